"""Room copies of one meeting -> one canonical Booking.

A CalDAV server without scheduling has no meeting object shared by the rooms: a client that books two rooms writes
the event (one UID) into both rooms' calendar collections. So the copies held by this RoomSync's rooms, grouped by
UID, become ONE booking: ``id`` = the UID, ``rooms`` = the rooms whose copy still books them (not cancelled, not
declined by the room), ``handle`` = room key -> the copy's href, with its ETag as the version.

People are the iCalendar ones: ORGANIZER is the organizer, ATTENDEEs with ``ROLE=OPT-PARTICIPANT`` are optional,
other individual attendees required; rooms and resources (``CUTYPE=ROOM/RESOURCE``), non-participants and this
RoomSync's own room addresses are not people.

Who answers: with Planon in the lead the booking is a request awaiting Planon's answer while a room has not
accepted or declined it in its own copy (its ATTENDEE's PARTSTAT, or no ATTENDEE for the room at all). Following,
nothing answers: what the room calendar holds is booked, and RoomSync registers it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from roomsync.connectors.caldav.resource import Attendee, Resource
from roomsync.model import Booking, Handle, Person, Status, Window, changed_fields

DECIDED = frozenset({"ACCEPTED", "DECLINED"})


@dataclass(frozen=True)
class Copy:
    """One room's copy of a meeting."""

    room: str  # room key (Planon code)
    address: str  # the room's calendar address
    resource: Resource

    @property
    def live(self) -> bool:
        return self.resource.holds(self.address)

    @property
    def awaiting(self) -> bool:
        return self.live and self.resource.answer(self.address) not in DECIDED


def _people(attendees: Iterable[Attendee], ours: Iterable[str], role: str) -> frozenset[Person]:
    excluded = set(ours)
    found = set()
    for attendee in attendees:
        is_optional = attendee.role == "OPT-PARTICIPANT"
        if not attendee.is_person or attendee.email in excluded or is_optional != (role == "optional"):
            continue
        try:
            found.add(Person(attendee.email, attendee.name))
        except ValueError:
            continue
    return frozenset(found)


def content(copy: Copy, ours: Iterable[str], rooms: frozenset[str]) -> Booking:
    """The synced content of one copy, as a booking of ``rooms``."""
    resource = copy.resource
    ours = list(ours)
    organizer = resource.organizer
    if organizer is not None and organizer.email in ours:
        organizer = None  # a room of ours "organizes" what was typed straight into its calendar: no person
    return Booking(
        id=resource.uid,
        subject=resource.subject,
        start=resource.start,
        end=resource.end,
        timezone=resource.timezone,
        all_day=resource.all_day,
        organizer=organizer,
        required=_people(resource.attendees, ours, "required"),
        optional=_people(resource.attendees, ours, "optional"),
        rooms=rooms,
        recurrence=resource.recurrence,
        ical_uid=resource.uid,
    )


def primary(copies: list[Copy]) -> Copy:
    """The copy whose content the booking shows: the first live room's (by key), else the first room's."""
    live = [c for c in copies if c.live]
    return sorted(live or copies, key=lambda c: c.room)[0]


def to_booking(copies: list[Copy], room_addresses: Mapping[str, str], *, planon_decides: bool) -> Booking:
    """One booking from the copies of a meeting in this RoomSync's rooms (``room_addresses``: address -> key)."""
    main = primary(copies)
    live = [c for c in copies if c.live]
    held = live or copies
    rooms = frozenset(c.room for c in held)
    awaiting = planon_decides and any(c.awaiting for c in live)
    links = [c.resource.link for c in copies if c.resource.link is not None]
    modified = [c.resource.last_modified for c in copies if c.resource.last_modified is not None]
    base = content(main, room_addresses, rooms)
    return Booking(
        id=base.id,
        subject=base.subject,
        start=base.start,
        end=base.end,
        timezone=base.timezone,
        all_day=base.all_day,
        organizer=base.organizer,
        required=base.required,
        optional=base.optional,
        rooms=rooms,
        recurrence=base.recurrence,
        status=Status.CANCELLED if not live else Status.TENTATIVE if awaiting else Status.CONFIRMED,
        ical_uid=base.ical_uid,
        link=max(links, key=lambda link: link.seq) if links else None,
        awaiting_response=awaiting,
        handle=Handle(
            {c.room: (c.resource.href,) for c in held},
            {c.resource.href: c.resource.etag for c in held if c.resource.etag},
        ),
        last_modified=max(modified) if modified else None,
    )


def disagree(copies: list[Copy], room_addresses: Mapping[str, str], window: Window) -> bool:
    """Whether the live copies of one meeting differ in synced content (a write that reached only some rooms)."""
    live = [c for c in copies if c.live]
    if len(live) < 2:
        return False
    rooms = frozenset(c.room for c in live)
    first = content(live[0], room_addresses, rooms)
    return any(changed_fields(first, content(c, room_addresses, rooms), window) for c in live[1:])
