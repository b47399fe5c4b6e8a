"""Room copies of one meeting -> one canonical Booking, and a Booking -> the Graph event to write.

Grouping: every room's copy of a meeting carries the same iCalUId, so the copies held by this RoomSync's rooms
become ONE booking (``id`` = iCalUId, ``rooms`` = the room keys holding a live copy, ``native`` = room key -> the
room's item id). The primary copy (the organizer's item when one of our rooms organizes the meeting, else the
first room's copy) supplies the content.

People: the room mailboxes of this RoomSync become ``rooms``; other resources are neither people nor our rooms
and are left out (and preserved when attendees are rewritten). Meetings this connector creates are organised by
the room itself, so the person the booking is for is kept in a second extended property (``people``: organizer,
required, optional) which is authoritative for those meetings; attendees on them are only the notification side
effect of the invitations policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time

from msgraph.generated.models.attendee import Attendee as GraphAttendee
from msgraph.generated.models.attendee_type import AttendeeType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.event import Event
from msgraph.generated.models.single_value_legacy_extended_property import SingleValueLegacyExtendedProperty

from roomsync.connectors.base import Invitations
from roomsync.connectors.exchange import Attendee, Copy, attendee_people, best_link, person, primary
from roomsync.connectors.graph import recurrence as rec
from roomsync.connectors.graph.items import Item
from roomsync.model import Booking, Handle, Person, Status, zone
from roomsync.model.booking import normalise_email
from roomsync.model.people_text import decode_people

UTC = UTC


def to_booking(uid: str, copies: list[Copy[Item]], room_mailboxes: Mapping[str, str]) -> Booking:
    """One booking from the copies of a meeting in this RoomSync's rooms. ``room_mailboxes``: mailbox -> room key."""
    main = primary(copies).item
    live = [c for c in copies if not c.item.is_cancelled]
    people = decode_people(main.people_text) if main.is_organizer else None
    ours = set(room_mailboxes)
    if people is not None:
        organizer, required, optional = people
    else:
        organizer = person(main.organizer, main.organizer_name) if main.organizer else None
        required = attendee_people(main.attendees, "required", ours)
        optional = attendee_people(main.attendees, "optional", ours)
    recurrence = None
    if main.type == "seriesMaster" and main.recurrence is not None:
        base = rec.from_graph(main.recurrence, main.start, main.timezone)
        exdates = rec.cancelled_starts(list(main.cancelled_occurrences), main.start, main.timezone)
        duration = main.end - main.start
        overrides = [
            rec.override(e.original_start, e.start, e.end, e.subject, main.subject)
            for e in main.exceptions
            if e.original_start is not None
            # an exception patched back to the pattern's time and subject is an occurrence like any other
            and (e.start, e.end, e.subject) != (e.original_start, e.original_start + duration, main.subject)
        ]
        recurrence = base.with_exceptions(exdates, overrides)
    if not live:
        status = Status.CANCELLED
    elif any(c.item.awaiting for c in live):
        status = Status.TENTATIVE
    else:
        status = Status.CONFIRMED
    modified = [c.item.last_modified for c in copies if c.item.last_modified is not None]
    return Booking(
        id=uid,
        subject=main.subject,
        start=main.start,
        end=main.end,
        timezone=main.timezone,
        all_day=main.all_day,
        organizer=organizer,
        required=required,
        optional=optional,
        rooms=frozenset(c.room for c in (live or copies)),
        recurrence=recurrence,
        status=status,
        ical_uid=uid,
        link=best_link(copies),
        awaiting_response=any(c.item.awaiting for c in live),
        handle=Handle(
            {c.room: (c.item.id,) for c in (live or copies)},
            {c.item.id: c.item.change_key for c in (live or copies) if c.item.change_key},
        ),
        last_modified=max(modified) if modified else None,
    )


# -- writing ---------------------------------------------------------------------------------------------------------
def when(value: datetime, booking: Booking) -> DateTimeTimeZone:
    """A wall time in the booking's zone (Graph takes IANA names), so series keep their local time across DST."""
    local = value.astimezone(zone(booking.timezone))
    if booking.all_day:
        local = datetime.combine(local.date(), time())
    return DateTimeTimeZone(date_time=local.strftime("%Y-%m-%dT%H:%M:%S"), time_zone=booking.timezone)


def graph_attendee(email: str, kind: AttendeeType, name: str = "") -> GraphAttendee:
    return GraphAttendee(email_address=EmailAddress(address=email, name=name or None), type=kind)


def attendees_for(
    booking: Booking,
    policy: Invitations,
    other_rooms: Iterable[str],
    preserved: Iterable[Attendee] = (),
) -> list[GraphAttendee]:
    """The attendee list of a meeting a room organizes: other rooms as resources (they must be invited to hold it),
    people per the invitations policy, and resources we do not manage kept as they were."""
    result = [graph_attendee(m, AttendeeType.Resource) for m in sorted(set(other_rooms))]
    if policy is not Invitations.NONE and booking.organizer is not None:
        result.append(graph_attendee(booking.organizer.email, AttendeeType.Required, booking.organizer.name))
    if policy is Invitations.ALL:
        result += [graph_attendee(p.email, AttendeeType.Required, p.name) for p in sorted(booking.required, key=_key)]
        result += [graph_attendee(p.email, AttendeeType.Optional, p.name) for p in sorted(booking.optional, key=_key)]
    listed = {a.email_address.address for a in result if a.email_address and a.email_address.address}
    result += [graph_attendee(a.email, AttendeeType.Resource, a.name) for a in preserved if a.email not in listed]
    return result


def _key(person: Person) -> str:
    return person.email


def extended(props: Mapping[str, str]) -> list[SingleValueLegacyExtendedProperty]:
    return [SingleValueLegacyExtendedProperty(id=k, value=v) for k, v in props.items()]


def new_event(booking: Booking, attendees: list[GraphAttendee], props: Mapping[str, str], transaction_id: str) -> Event:
    event = Event(
        subject=booking.subject,
        start=when(booking.start, booking),
        end=when(booking.end, booking),
        is_all_day=booking.all_day,
        attendees=attendees,
        single_value_extended_properties=extended(props),
        transaction_id=transaction_id,
        response_requested=True,
    )
    if booking.recurrence is not None:
        event.recurrence = rec.to_graph(booking.recurrence, booking.start, booking.timezone)
    return event


def is_email(value: str) -> bool:
    try:
        normalise_email(value)
    except ValueError:
        return False
    return True
