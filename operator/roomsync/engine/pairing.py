"""Which Planon booking is which calendar booking.

Pairs are found, in this order of trust: by the correlation id each side stores for the other; by iCalUId; and,
only for bookings neither side has linked yet (those that existed on both sides before the first sync), by room
and exact start and end. Subject and body never take part: room mailboxes rewrite them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from roomsync.model import Booking, Status


@dataclass(frozen=True)
class Pairing:
    pairs: tuple[tuple[Booking, Booking], ...]
    planon_only: tuple[Booking, ...]
    calendar_only: tuple[Booking, ...]
    adopted: frozenset[str]  # ids of calendar bookings paired by room and time, not by identity
    #: live calendar items that link to a Planon booking which is paired with a newer item (a meeting re-booked, in
    #: another room or after a cancellation, whose old copy was not cancelled yet)
    superseded: tuple[Booking, ...] = ()


def pair(planon: Iterable[Booking], calendar: Iterable[Booking]) -> Pairing:
    planon_by_id = {b.id: b for b in planon}
    calendar_by_id = {b.id: b for b in calendar}
    matched: set[str] = set()  # planon ids paired
    pairs: list[tuple[Booking, Booking]] = []
    taken: set[str] = set()

    def match(p: Booking, c: Booking) -> None:
        matched.add(p.id)
        taken.add(c.id)
        pairs.append((p, c))

    # 1. mutual or one-way links; a link to an id the other side does not hold is left for the dangling rules.
    # A meeting booked anew (after its calendar copy was cancelled, or in another room) carries a link with a higher
    # sequence number to the same Planon booking as its old copy; if the process died before Planon's link moved,
    # the newest live copy is the partner, and the old one is superseded.
    newest = _newest_live_linkers(calendar_by_id.values())
    # A link back to someone else only blocks the match when that someone exists (a stale link is fixed later).
    # (This loop runs for every pair every cycle: match() is written out.)
    for p in planon_by_id.values():
        p_link = p.link
        linked = calendar_by_id.get(p_link.peer_id) if p_link is not None else None
        newer = newest.get(p.id)
        if (
            newer is not linked  # usually the item P links to is its newest linker: nothing to weigh
            and linked is not None
            and newer is not None
            and (linked.cancelled or _seq_to(linked, p.id) < _seq_to(newer, p.id))
        ):
            linked = newer
        if linked is None or linked.id in taken:
            continue
        back = linked.link
        if back is None or back.peer_id == p.id or back.peer_id not in planon_by_id:
            matched.add(p.id)
            taken.add(linked.id)
            pairs.append((p, linked))
    if len(taken) < len(calendar_by_id):
        for c in calendar_by_id.values():
            if c.id in taken:
                continue
            linker = planon_by_id.get(c.link.peer_id) if c.link else None
            if linker is None or linker.id in matched:
                continue
            if linker.link is None or linker.link.peer_id not in calendar_by_id:
                # Planon names no partner (a one-way sync never writes Planon's link): the newest live copy is it
                match(linker, newest.get(linker.id, c))

    if len(taken) == len(calendar_by_id) or len(matched) == len(planon_by_id):  # all linked: the usual cycle
        return _pairing(planon_by_id, calendar_by_id, matched, taken, pairs, set())

    # 2. iCalUId: a Planon booking that recorded the meeting's iCalUId (e.g. made by Connect for Calendars before).
    by_uid = {c.ical_uid: c for c in calendar_by_id.values() if c.ical_uid and c.id not in taken}
    for p in planon_by_id.values():
        same_uid = by_uid.get(p.ical_uid) if p.ical_uid and p.id not in matched else None
        if same_uid is not None and same_uid.id not in taken:
            match(p, same_uid)

    # 3. adoption: unlinked, live, same start and end, sharing a room.
    adopted: set[str] = set()
    free_calendar: dict[tuple[object, object], list[Booking]] = {}
    for c in calendar_by_id.values():
        if c.id not in taken and c.link is None and not c.cancelled:
            free_calendar.setdefault((c.start, c.end), []).append(c)
    for p in planon_by_id.values():
        if p.id in matched or p.link is not None or p.cancelled:
            continue
        for c in free_calendar.get((p.start, p.end), []):
            if c.id not in taken and c.rooms & p.rooms:
                match(p, c)
                adopted.add(c.id)
                break

    return _pairing(planon_by_id, calendar_by_id, matched, taken, pairs, adopted)


def _pairing(
    planon_by_id: dict[str, Booking],
    calendar_by_id: dict[str, Booking],
    matched: set[str],
    taken: set[str],
    pairs: list[tuple[Booking, Booking]],
    adopted: set[str],
) -> Pairing:
    alone = [b for b in calendar_by_id.values() if b.id not in taken] if len(taken) < len(calendar_by_id) else []
    superseded = [b for b in alone if b.link is not None and b.link.peer_id in matched and not b.cancelled]
    gone = {b.id for b in superseded}
    planon_only = (
        tuple(b for b in planon_by_id.values() if b.id not in matched) if len(matched) < len(planon_by_id) else ()
    )
    return Pairing(
        pairs=tuple(pairs),
        planon_only=planon_only,
        calendar_only=tuple(b for b in alone if b.id not in gone),
        adopted=frozenset(adopted),
        superseded=tuple(superseded),
    )


def _seq_to(booking: Booking, peer_id: str) -> int:
    """The sequence number of ``booking``'s link to ``peer_id`` (0 when it links elsewhere or nowhere)."""
    link = booking.link
    return link.seq if link is not None and link.peer_id == peer_id else 0


def _newest_live_linkers(calendar: Iterable[Booking]) -> dict[str, Booking]:
    """Planon id -> the live calendar item that links to it with the highest sequence number."""
    newest: dict[str, Booking] = {}
    cancelled = Status.CANCELLED
    for c in calendar:
        link = c.link
        if link is None or c.status is cancelled:
            continue
        peer = link.peer_id
        current = newest.setdefault(peer, c)  # one dict operation for the usual peer, linked to once
        if current is not c and _seq_to(current, peer) < link.seq:
            newest[peer] = c
    return newest


def dangling_peer_ids(planon: Iterable[Booking], calendar: Iterable[Booking]) -> tuple[set[str], set[str]]:
    """Peer ids that bookings link to but the other side's window read did not return.

    The runner looks these up by id before planning: a meeting moved out of the window, or cancelled, must be seen
    as what it is and not as a deletion.
    """
    planon_list, calendar_list = list(planon), list(calendar)
    planon_ids = {b.id for b in planon_list}
    calendar_ids = {b.id for b in calendar_list}
    missing_calendar = {b.link.peer_id for b in planon_list if b.link and b.link.peer_id not in calendar_ids}
    missing_planon = {b.link.peer_id for b in calendar_list if b.link and b.link.peer_id not in planon_ids}
    return missing_calendar, missing_planon
