"""The reconcile decision: from what both sides hold to the writes that make them agree.

Pure: no I/O, no clock (``now`` is an argument), no connector imports. Every decision is a three-way comparison of
each side's current fingerprint against the last-synced one (the link with the highest sequence number): the side
whose fingerprint moved is the one that changed. Both moved is a conflict, and the leader wins. The decision table
is in docs/architecture.md.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime

from roomsync.engine.actions import Action, ActionKind, RequestDecision
from roomsync.engine.pairing import pair
from roomsync.engine.policy import MASS_DELETE_FLOOR, Direction, OnRefused, Policy
from roomsync.model import (
    Booking,
    Link,
    Response,
    Side,
    Snapshot,
    Status,
    changed_fields,
    fingerprint,
    fit,
    shortened,
)
from roomsync.model.fingerprint import (
    FIELD_GROUPS,
    changed_groups,
    field_digests,
    fitted_fingerprint,
    synced_fields,
)


@dataclass(frozen=True)
class Note:
    """Something a person should know that is not a write (kept because a read was incomplete, left alone, ...)."""

    rooms: frozenset[str]
    message: str


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    notes: tuple[Note, ...] = ()
    refused: str | None = None  # why the whole plan was refused (MassDeleteRefused)
    conflicts: int = 0

    @property
    def empty(self) -> bool:
        return not self.actions

    def count(self, kind: ActionKind, side: Side | None = None) -> int:
        return sum(1 for a in self.actions if a.kind is kind and (side is None or a.side is side))


def plan(policy: Policy, planon: Snapshot, calendar: Snapshot, now: datetime) -> Plan:
    """Decide what to write so that both sides hold the same bookings. See the module docstring."""
    with _cyclic_gc_paused():
        return _Planner(policy, planon, calendar, now).run()


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Keep CPython's cycle collector out of the plan.

    A plan allocates many small containers and no reference cycles, and the snapshots it reads are large: with the
    collector on, its full-heap passes over the snapshots took a third of the plan time at 100,000 pairs
    (docs/performance.md). Reference counting still frees everything; the collector resumes afterwards.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_CANCELLED = Status.CANCELLED


class _Planner:
    def __init__(self, policy: Policy, planon: Snapshot, calendar: Snapshot, now: datetime) -> None:
        self._source = policy.direction.source  # asked for every pair; the property is not free
        self._limits = policy.limits
        self._any_stale = bool(planon.needs_rewrite or calendar.needs_rewrite)
        self.policy = policy
        self.window = policy.window(now)
        self.snapshots = {Side.PLANON: planon, Side.CALENDAR: calendar}
        self.actions: list[Action] = []
        self.notes: list[Note] = []
        self.conflicts = 0

    # -- driver ------------------------------------------------------------------------------------------------------
    def run(self) -> Plan:
        pairing = pair(self.snapshots[Side.PLANON].bookings, self.snapshots[Side.CALENDAR].bookings)
        adopted = pairing.adopted
        for p, c in pairing.pairs:
            self._pair(p, c, adopted=bool(adopted) and c.id in adopted)
        for booking in pairing.planon_only:
            self._alone(Side.PLANON, booking)
        for booking in pairing.calendar_only:
            self._alone(Side.CALENDAR, booking)
        for booking in pairing.superseded:
            self._superseded(booking)
        refused = self._mass_delete_refusal()
        return Plan(
            actions=() if refused else tuple(self.actions),
            notes=tuple(self.notes),
            refused=refused,
            conflicts=self.conflicts,
        )

    def fp(self, booking: Booking) -> str:
        """The fingerprint of the booking as the narrower side can hold it (``policy.limits``)."""
        return fitted_fingerprint(booking, self._limits, self.window)

    def link_to(self, peer: Booking, seq: int, fp: str | None = None) -> Link:
        """The link a write stores: ``peer``'s id, and the fingerprint and field digests of its content."""
        fitted = fit(peer, self.policy.limits)
        return Link(peer.id, fp or fingerprint(fitted, self.window), seq, field_digests(fitted, self.window))

    # -- both sides hold the meeting -------------------------------------------------------------------------------
    def _pair(self, p: Booking, c: Booking, *, adopted: bool) -> None:
        baseline = _baseline(p, c)
        seq = (baseline.seq if baseline else 0) + 1
        p_cancelled, c_cancelled = p.status is _CANCELLED, c.status is _CANCELLED
        if p_cancelled and c_cancelled:
            return
        if p_cancelled or c_cancelled:
            gone = Side.PLANON if p_cancelled else Side.CALENDAR
            survivor, peer = (c, p) if p_cancelled else (p, c)
            changed = baseline is None or self.fp(survivor) != baseline.fingerprint
            self._deleted(gone, survivor, survivor_changed=changed, peer=peer, seq=seq)
            return
        fp_p = self.fp(p)
        # most pairs agree: one side is hashed, the other compared (or both remembered from an earlier cycle)
        fp_c = fitted_fingerprint(c, self._limits, self.window, like=p, like_fp=fp_p)
        if fp_p == fp_c:
            if self._any_stale:
                items = {Side.PLANON: p, Side.CALENDAR: c}
                stale = [s for s in (Side.PLANON, Side.CALENDAR) if self._stale(s, items[s])]
                for side in stale:
                    why = (
                        "rewrite from the other side (an open-ended series reaches the window's end; room copies agree)"
                    )
                    # an occurrence the extension cannot reserve is reported; it never declines the whole series
                    self._update(side, items[side], items[side.other], seq, why, conflict=False, decides_request=False)
                if stale:
                    self._answer_pending_request(c)
                    return
            self._keep_links_current(p, c, fp_p, baseline, seq, adopted=adopted)
            if c.awaiting_response:
                self._answer_pending_request(c)
            return
        items = {Side.PLANON: p, Side.CALENDAR: c}
        p_changed = baseline is None or fp_p != baseline.fingerprint
        c_changed = baseline is None or fp_c != baseline.fingerprint
        source = self.policy.direction.source
        conflict = source is None and p_changed and c_changed
        if conflict and baseline is not None and self._merge(items, baseline, seq):
            return
        if source is not None:
            winner = source
        elif conflict:
            winner = self.policy.leader
            self.conflicts += 1
        else:
            winner = Side.PLANON if p_changed else Side.CALENDAR
        loser = winner.other
        why = (
            f"changed on both sides; {winner.value} leads"
            if conflict
            else f"changed in {winner.value}"
            if source is None or (p_changed if winner is Side.PLANON else c_changed)
            else f"{loser.value} differs from {winner.value}, which is the source of this one-way sync"
        )
        self._update(loser, items[loser], items[winner], seq, why, conflict=conflict)

    def _merge(self, items: dict[Side, Booking], baseline: Link, seq: int) -> bool:
        """Both sides changed since the last sync: keep what each changed, field group by field group.

        The leader wins only the groups both sides changed to different values. ``False`` when the groups cannot be
        told apart (a link written without field digests): then the whole booking is a conflict the leader wins.

        When both sides need a write, the calendar is written first and keeps the last-synced state as its link;
        Planon is written last with the new link (apply stops a meeting's actions at the first failure). So a write
        that fails leaves no link claiming a state one side never reached, and the next cycle merges again.
        """
        fitted = {side: fit(items[side], self.policy.limits) for side in items}
        groups = {side: changed_groups(fitted[side], baseline.fields, self.window) for side in items}
        p_groups, c_groups = groups[Side.PLANON], groups[Side.CALENDAR]
        if not p_groups or not c_groups:
            return False
        leader = self.policy.leader
        values = {side: synced_fields(fitted[side], self.window) for side in items}
        both = {
            g
            for g in p_groups & c_groups
            if any(values[Side.PLANON][f] != values[Side.CALENDAR][f] for f in FIELD_GROUPS[g])
        }
        loser_groups = c_groups if leader is Side.PLANON else p_groups
        content = items[leader].with_groups_of(items[leader.other], loser_groups - both)
        if both:
            self.conflicts += 1
            why = f"changed on both sides ({', '.join(sorted(both))} in both); {leader.value} leads"
        else:
            why = f"changed on both sides in different fields ({', '.join(sorted(p_groups | c_groups))}); both kept"
        target_fp = self.fp(content)
        writes = [side for side in (Side.CALENDAR, Side.PLANON) if self.fp(items[side]) != target_fp]
        for side in writes:
            winner = items[side.other].with_content_of(content)
            keep = (
                replace(baseline, peer_id=items[Side.PLANON].id) if len(writes) == 2 and side is Side.CALENDAR else None
            )
            # counted once, on the write that settles it (the one carrying the new link)
            self._update(side, items[side], winner, seq, why, conflict=bool(both) and side is writes[-1], link=keep)
        return True

    def _keep_links_current(
        self, p: Booking, c: Booking, fp: str, baseline: Link | None, seq: int, *, adopted: bool
    ) -> None:
        """Relink only where a link is missing, points elsewhere, or no longer describes the content.

        Planon carries the link of every pair. A calendar item may lack one (a meeting made in Outlook that Planon
        registered): Planon's link pairs it, and Planon keeps cancelled reservations, so a Planon cancellation is
        still seen. That saves a write per meeting request; see docs/architecture.md.
        """
        stale = baseline is None or baseline.fingerprint != fp
        p_link, c_link = p.link, c.link
        if not stale and p_link is not None and p_link.peer_id == c.id and (c_link is None or c_link.peer_id == p.id):
            return  # the usual pair: both links current, nothing to write
        items = {Side.PLANON: p, Side.CALENDAR: c}
        targets: list[Side] = []
        if self._may_write(Side.PLANON):
            if p.link is None or p.link.peer_id != c.id or stale:
                targets.append(Side.PLANON)
        elif stale or (c.link is not None and c.link.peer_id != p.id):
            targets.append(Side.CALENDAR)
        if (
            self._may_write(Side.CALENDAR)
            and c.link is not None
            and c.link.peer_id != p.id
            and Side.CALENDAR not in targets
        ):
            targets.append(Side.CALENDAR)
        reason = "matched by room and time before the first sync" if adopted else "record the last-synced state"
        for side in targets:
            link = self.link_to(items[side.other], seq, fp)
            self.actions.append(
                Action(ActionKind.RELINK, side, reason, items[side].rooms, target=items[side], link=link)
            )

    def _answer_pending_request(self, c: Booking) -> None:
        if c.awaiting_response and self.policy.leader is Side.PLANON and self._may_write(Side.CALENDAR):
            self.actions.append(
                Action(
                    ActionKind.RESPOND,
                    Side.CALENDAR,
                    "Planon holds this reservation",
                    c.rooms,
                    target=c,
                    response=Response.ACCEPT,
                    comment="Reserved in Planon.",
                )
            )

    def _update(
        self,
        side: Side,
        target: Booking,
        winner: Booking,
        seq: int,
        why: str,
        *,
        conflict: bool,
        decides_request: bool = True,
        link: Link | None = None,
    ) -> None:
        """Make ``target`` (on ``side``) hold ``winner``'s content; its link is the new baseline unless ``link``."""
        desired = target.with_content_of(winner).with_link(link or self.link_to(winner, seq))
        self._note_shortened(side, winner)
        limits = self.policy.limits
        self.actions.append(
            Action(
                ActionKind.UPDATE,
                side,
                why,
                target.rooms | winner.rooms,
                target=target,
                desired=desired,
                source=winner,
                fields=tuple(changed_fields(fit(target, limits), fit(winner, limits), self.window)),
                backlink=self._needs_backlink(side, winner, target.id),
                backlink_if_moved=self._may_write(side.other),
                decides=self._request_decided_by(side, winner) if decides_request else None,
                conflict=conflict,
            )
        )

    # -- only one side holds the meeting -----------------------------------------------------------------------------
    def _alone(self, side: Side, booking: Booking) -> None:
        if booking.cancelled:
            return
        if booking.link is not None:
            peer = booking.link
            changed = self.fp(booking) != peer.fingerprint
            self._deleted(side.other, booking, survivor_changed=changed, peer=None, seq=peer.seq + 1)
            return
        if not self.policy.direction.allows(side):
            self.notes.append(Note(booking.rooms, f'"{booking.subject}" exists only in {side.value}; left alone'))
            return
        self._create(side.other, booking, seq=1, why=f"new in {side.value}")

    def _create(self, side: Side, source: Booking, *, seq: int, why: str) -> None:
        if not self._may_write(side):
            return
        desired = replace(source, id=f"pending:{source.id}", handle=None, awaiting_response=False).with_link(
            self.link_to(source, seq)
        )
        self._note_shortened(side, source)
        self.actions.append(
            Action(
                ActionKind.CREATE,
                side,
                why,
                source.rooms,
                desired=desired,
                source=source,
                backlink=self._needs_backlink(side, source, None),
                decides=self._request_decided_by(side, source),
            )
        )

    def _deleted(
        self, gone: Side, survivor: Booking, *, survivor_changed: bool, peer: Booking | None, seq: int
    ) -> None:
        """The meeting was deleted or cancelled on ``gone`` and still lives on the other side."""
        survivor_side = gone.other
        if not self._can_vouch_for_absence(gone, survivor, peer):
            self.notes.append(
                Note(survivor.rooms, f'"{survivor.subject}": {gone.value} could not be read completely; kept')
            )
            return
        source = self.policy.direction.source
        if source is not None:
            restore = source is survivor_side
        elif survivor_changed:
            restore = self.policy.leader is survivor_side
        else:
            restore = False
        if restore:
            if peer is not None and (gone is Side.PLANON or not self._may_write(survivor_side)):
                # a cancelled item is still there: bring it back by updating it
                why = f"cancelled in {gone.value} but {survivor_side.value} leads"
                self._update(gone, peer, survivor, seq, why, conflict=source is None)  # one-way: no conflict
            elif peer is not None:
                # Only its organizer can revive a cancelled calendar meeting (an update of the room's copy changes
                # nothing, every cycle): the room books it anew, and the backlink moves Planon's link to the new one
                # (so not in a one-way sync from Planon, which never writes Planon).
                why = f"cancelled in {gone.value} but {survivor_side.value} leads; booked anew in the room calendar"
                self._create(gone, survivor, seq=seq, why=why)
            else:
                why = (
                    f"deleted in {gone.value} but changed in {survivor_side.value}, which leads"
                    if source is None
                    else f"deleted in {gone.value}, restored from the source {survivor_side.value}"
                )
                self._create(gone, survivor, seq=seq, why=why)
            if source is None:
                self.conflicts += 1
            return
        if not self._may_write(survivor_side):
            return
        why = (
            f"deleted in {gone.value}; the change in {survivor_side.value} loses because {gone.value} leads"
            if survivor_changed and source is None
            else f"cancelled in {gone.value}"
        )
        self.actions.append(Action(ActionKind.CANCEL, survivor_side, why, survivor.rooms, target=survivor))

    def _superseded(self, booking: Booking) -> None:
        """A calendar copy whose Planon booking now pairs with a newer copy (the meeting was booked anew)."""
        if not self._may_write(Side.CALENDAR):
            return
        why = "superseded: the meeting was booked anew, this older copy is cancelled"
        self.actions.append(Action(ActionKind.CANCEL, Side.CALENDAR, why, booking.rooms, target=booking))

    # -- rules shared by the decisions above -------------------------------------------------------------------------
    def _note_shortened(self, side: Side, content: Booking) -> None:
        """Writing ``content`` to a side that cannot hold all of it: say what is left out."""
        cut = shortened(content, self.policy.limits)
        if cut:
            self.notes.append(Note(content.rooms, f'"{content.subject}": {"; ".join(cut)} to fit {side.value}'))

    def _stale(self, side: Side, booking: Booking) -> bool:
        """The side holds this booking in a form that no longer covers the window (and may be rewritten)."""
        return booking.id in self.snapshots[side].needs_rewrite and self._may_write(side)

    def _may_write(self, side: Side) -> bool:
        source = self._source
        return source is None or source is not side

    def _needs_backlink(self, written: Side, source: Booking, target_id: str | None) -> bool:
        """Whether the source must learn the id of the item written from it (see ``_keep_links_current``)."""
        if not self._may_write(written.other):
            return False
        if source.link is not None and source.link.peer_id == target_id:
            return False
        return written.other is Side.PLANON or source.link is not None

    def _can_vouch_for_absence(self, gone: Side, survivor: Booking, peer: Booking | None) -> bool:
        """A missing item only means "deleted" when that side's read of its rooms was complete."""
        if peer is not None:  # an explicit cancellation needs no vouching
            return True
        snapshot = self.snapshots[gone]
        unsure = snapshot.unreadable_rooms | {s.room for s in snapshot.skipped}
        return not (survivor.rooms & unsure) and not (not survivor.rooms and unsure)

    def _request_decided_by(self, side: Side, source: Booking) -> RequestDecision | None:
        """The calendar meeting a write to Planon decides, and whether Planon's refusal declines it.

        In the lead, Planon's answer is the room's answer: accepted when the write succeeds, declined when Planon
        refuses. Following, a refusal only declines when ``onRefused: Decline``; otherwise it is reported.
        """
        if side is not Side.PLANON or not self._may_write(Side.CALENDAR):
            return None
        if self.policy.leader is Side.PLANON:
            return RequestDecision(source, decline_on_refusal=True)
        decline = self.policy.on_refused is OnRefused.DECLINE
        return RequestDecision(source, decline) if decline or source.awaiting_response else None

    def _mass_delete_refusal(self) -> str | None:
        if self.policy.allow_mass_delete:
            return None
        for side in (Side.PLANON, Side.CALENDAR):
            cancels: Counter[str] = Counter()
            for action in self.actions:
                if action.kind is ActionKind.CANCEL and action.side is side:
                    cancels.update(action.rooms)
            if not cancels:
                continue
            linked: Counter[str] = Counter()
            for booking in self.snapshots[side].bookings:
                if booking.link is not None and not booking.cancelled:
                    linked.update(booking.rooms)
            for room, count in sorted(cancels.items()):
                total = max(linked[room], count)
                if count > MASS_DELETE_FLOOR and count * 100 > self.policy.max_delete_percent * total:
                    return (
                        f"would cancel {count} of {total} synced bookings of room {room} in {side.value} "
                        f"(more than safety.maxDeletePercent={self.policy.max_delete_percent}%); nothing was written. "
                        "If this is intended, set spec.safety.allowMassDelete (or pass --allow-mass-delete) once."
                    )
        return None


def _baseline(p: Booking, c: Booking) -> Link | None:
    """The last-synced state: the newest link that belongs to this pair (Planon's on a tie)."""
    p_link = p.link if p.link is not None and p.link.peer_id == c.id else None
    c_link = c.link if c.link is not None and c.link.peer_id == p.id else None
    if p_link is None:
        return c_link
    return c_link if c_link is not None and c_link.seq > p_link.seq else p_link


__all__ = ["Direction", "Note", "Plan", "plan"]
