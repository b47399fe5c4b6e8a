"""Room copies of one meeting -> one canonical Booking, and a Booking -> the Google event to write.

Grouping: every room's copy of a meeting carries the same ``iCalUID``, so the copies held by this RoomSync's rooms
become ONE booking (``id`` = the iCalUID; a "this and following" split that kept the iCalUID [unconfirmed] gives
its later series ``<iCalUID>#<first start>``). The primary copy (the one a room of ours organizes, else the first
room's) supplies the content.

Meetings RoomSync creates are written by the delegated booking user into the first room's calendar, so Google
makes that room the organizer (docs/google-workspace.md). The person the booking is for is kept with the link in
the room copy's private extended properties (``people``, JSON, cut into 1,024-character values because Google
truncates longer ones silently); attendees on those meetings are only the notification side effect of the
invitations policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roomsync.connectors.base import Invitations
from roomsync.connectors.google import recurrence as rec
from roomsync.connectors.google.items import Attendee, Item
from roomsync.model import Booking, Handle, Link, OccurrenceOverride, Person, Status, zone
from roomsync.model.people_text import decode_people, encode_people

#: Google's silent limit per extended-property value.
MAX_VALUE = 1024
#: Chunks of the people property (keeps the event far under Google's 300 properties / 32 kB).
MAX_PEOPLE_CHUNKS = 24


@dataclass(frozen=True)
class Copy:
    """One room's entry of a meeting: a single event or a series master, with the master's instance records."""

    room: str
    calendar: str
    item: Item
    instances: tuple[Item, ...] = ()


# -- people --------------------------------------------------------------------------------------------------------
def people_properties(booking: Booking, key: str, existing: Mapping[str, str]) -> dict[str, str | None]:
    """The people JSON as ``key``, ``key.1`` ... values of at most 1,024 characters; stale chunks set to None
    (a PATCH deletes them). Refuses what would not fit rather than letting Google cut it."""
    from roomsync.connectors.base import BookingRefused

    text = encode_people(booking)
    chunks = [text[i : i + MAX_VALUE] for i in range(0, len(text), MAX_VALUE)] or [""]
    if len(chunks) > MAX_PEOPLE_CHUNKS:
        raise BookingRefused(
            f"the attendee list ({len(booking.required) + len(booking.optional)} people) does not fit in Google's "
            f"extended properties ({MAX_PEOPLE_CHUNKS} x {MAX_VALUE} characters)",
            backend="google",
        )
    names = [key] + [f"{key}.{i}" for i in range(1, len(chunks))]
    result: dict[str, str | None] = dict(zip(names, chunks, strict=True))
    for name in existing:
        if name.startswith(key + ".") and name not in result:
            result[name] = None
    return result


def parse_people(
    private: Mapping[str, str], key: str
) -> tuple[Person | None, frozenset[Person], frozenset[Person]] | None:
    text, index = private.get(key), 1
    if not text:
        return None
    while f"{key}.{index}" in private:
        text += private[f"{key}.{index}"]
        index += 1
    return decode_people(text)


def _person(email: str, name: str = "") -> Person | None:
    try:
        return Person(email, name)
    except ValueError:
        return None


def _people(attendees: Iterable[Attendee], optional: bool, exclude: set[str]) -> frozenset[Person]:
    found = (
        _person(a.email, a.name)
        for a in attendees
        if not a.resource and a.optional is optional and a.email not in exclude
    )
    return frozenset(p for p in found if p is not None)


# -- reading ----------------------------------------------------------------------------------------------------------
def primary(copies: list[Copy]) -> Copy:
    """The organizing room's copy, else the first room that still holds the meeting (a room that declined or lost
    it to auto-replacement keeps an outdated copy), else the first room."""
    live = [c for c in copies if c.item.live]
    organizers = [c for c in live or copies if c.item.organizer_self]
    return sorted(organizers or live or copies, key=lambda c: c.room)[0]


def best_link(copies: Iterable[Copy], key: str) -> Link | None:
    links = [link for link in (Link.decode(c.item.private.get(key)) for c in copies) if link is not None]
    return max(links, key=lambda link: link.seq) if links else None


def series(main: Copy) -> Any:
    """The canonical recurrence of a master: its lines, its cancelled/declined occurrences, its moved ones."""
    item = main.item
    assert item.start is not None and item.end is not None
    base = rec.from_google(item.recurrence, item.start, item.timezone, item.all_day)
    exdates = set(base.exdates)
    overrides = []
    duration = item.end - item.start
    last = max((i.original_start for i in main.instances if i.original_start), default=item.start)
    # instance records left behind by a rule that no longer produces their occurrence are not exceptions
    occurs = set(base.starts(item.start, item.timezone, last + duration))
    for instance in main.instances:
        original = instance.original_start
        if original is None or original not in occurs:
            continue
        if not instance.live:
            exdates.add(original)
        elif instance.start is not None and instance.end is not None:
            subject = instance.summary if instance.summary != item.summary else None
            if (instance.start, instance.end) != (original, original + duration) or subject:
                overrides.append(OccurrenceOverride(original, instance.start, instance.end, subject))
    return base.with_exceptions(exdates, overrides)


def to_booking(
    key: str, copies: list[Copy], room_of_calendar: Mapping[str, str], link_key: str, people_key: str
) -> Booking:
    """One booking from the copies of a meeting in this RoomSync's rooms."""
    main = primary(copies)
    item = main.item
    assert item.start is not None and item.end is not None
    live = [c for c in copies if c.item.live]
    people = parse_people(item.private, people_key) if item.organizer_self else None
    ours = set(room_of_calendar)
    if people is not None:
        organizer, required, optional = people
    else:
        organizer = _person(item.organizer, item.organizer_name) if item.organizer else None
        exclude = ours | {item.organizer}
        required, optional = _people(item.attendees, False, exclude), _people(item.attendees, True, exclude)
    if not live:
        status = Status.CANCELLED
    elif any(c.item.awaiting for c in live):
        status = Status.TENTATIVE
    else:
        status = Status.CONFIRMED
    held = live or copies
    versions = {c.item.id: c.item.etag for c in copies if c.item.etag}
    versions.update({i.id: i.etag for c in copies for i in c.instances if i.etag})
    modified = [c.item.updated for c in copies if c.item.updated is not None]
    return Booking(
        id=key,
        subject=item.summary,
        start=item.start,
        end=item.end,
        timezone=item.timezone,
        all_day=item.all_day,
        organizer=organizer,
        required=required,
        optional=optional,
        rooms=frozenset(c.room for c in held),
        recurrence=series(main) if item.recurrence else None,
        status=status,
        ical_uid=item.ical_uid,
        link=best_link(copies, link_key),
        awaiting_response=any(c.item.awaiting for c in live),
        handle=Handle({c.room: (c.item.id,) for c in held}, versions),
        last_modified=max(modified) if modified else None,
    )


# -- writing ----------------------------------------------------------------------------------------------------------
def when(value: datetime, booking: Booking) -> dict[str, str]:
    """A wall time in the booking's zone with its offset and IANA zone (required for series); dates for all-day."""
    local = value.astimezone(zone(booking.timezone))
    if booking.all_day:
        return {"date": local.date().isoformat()}
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": booking.timezone}


def attendees_for(
    booking: Booking, policy: Invitations, other_rooms: Iterable[str], preserved: Iterable[Attendee] = ()
) -> list[dict[str, Any]]:
    """Other rooms as resources (they must be invited to hold the meeting), people per the invitations policy, and
    resources RoomSync does not manage kept as they were."""
    result: list[dict[str, Any]] = [{"email": r, "resource": True} for r in sorted(set(other_rooms))]
    if policy is not Invitations.NONE and booking.organizer is not None:
        result.append({"email": booking.organizer.email, "displayName": booking.organizer.name or None})
    if policy is Invitations.ALL:
        result += [{"email": p.email} for p in sorted(booking.required, key=lambda p: p.email)]
        result += [{"email": p.email, "optional": True} for p in sorted(booking.optional, key=lambda p: p.email)]
    listed = {a["email"] for a in result}
    result += [{"email": a.email, "resource": True} for a in preserved if a.email not in listed]
    return [{k: v for k, v in a.items() if v is not None} for a in result]


def content(booking: Booking, fields: Iterable[str]) -> dict[str, Any]:
    """The PATCH body for the changed synced content (subject, times, all-day, recurrence)."""
    changed = set(fields)
    body: dict[str, Any] = {}
    if "subject" in changed:
        body["summary"] = booking.subject
    if changed & {"start", "end", "allDay", "recurrence"}:
        body["start"], body["end"] = when(booking.start, booking), when(booking.end, booking)
    if "recurrence" in changed:
        body["recurrence"] = (
            rec.to_google(booking.recurrence, booking.timezone, booking.all_day) if booking.recurrence else None
        )
    return body
