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

Writing: the bodies of creates and updates are plain JSON objects shaped exactly as Graph documents the ``event``
resource (``api/user-post-events.md``: ``dateTimeTimeZone`` start/end, ``attendees`` with ``emailAddress`` and
``type``, ``singleValueExtendedProperties`` as ``{id, value}``, ``transactionId``), not msgraph-sdk's generated
``Event`` models: building a model and serializing it (kiota's backing store) cost about a third of the operator's CPU
per create, and the ``$batch`` then had to read that JSON back (docs/performance.md, 4). The requests still go out
through msgraph-sdk's request adapter (:mod:`.calls`). The ``@odata.type`` annotation the SDK adds is optional in
a request and left out, as in Graph's own examples.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time
from typing import Any

from msgraph.generated.models.attendee_type import AttendeeType

from roomsync.connectors.base import Invitations
from roomsync.connectors.exchange import Attendee, Copy, attendee_people, best_link, person, primary
from roomsync.connectors.graph import recurrence as rec
from roomsync.connectors.graph.items import Item
from roomsync.model import Booking, Handle, Person, Status, zone
from roomsync.model.booking import normalise_email
from roomsync.model.people_text import decode_people

UTC = UTC
#: A request body as Graph's JSON (camelCase keys), sent as it is.
Body = dict[str, Any]


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
def when(value: datetime, booking: Booking) -> Body:
    """A ``dateTimeTimeZone``: the wall time in the booking's zone (Graph takes IANA names), so series keep their
    local time across DST. An all-day booking is whole dates: midnight to midnight in its zone."""
    local = value.astimezone(zone(booking.timezone))
    if booking.all_day:
        local = datetime.combine(local.date(), time())
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": booking.timezone}


def graph_attendee(email: str, kind: AttendeeType, name: str = "") -> Body:
    """An ``attendee``: ``emailAddress`` (``name`` only when there is one) and ``type`` (required, optional,
    resource)."""
    address: Body = {"address": email, "name": name} if name else {"address": email}
    return {"emailAddress": address, "type": kind.value}


def attendees_for(
    booking: Booking,
    policy: Invitations,
    other_rooms: Iterable[str],
    preserved: Iterable[Attendee] = (),
) -> list[Body]:
    """The attendee list of a meeting a room organizes: other rooms as resources (they must be invited to hold it),
    people per the invitations policy, and resources we do not manage kept as they were."""
    result = [graph_attendee(m, AttendeeType.Resource) for m in sorted(set(other_rooms))]
    if policy is not Invitations.NONE and booking.organizer is not None:
        result.append(graph_attendee(booking.organizer.email, AttendeeType.Required, booking.organizer.name))
    if policy is Invitations.ALL:
        result += [graph_attendee(p.email, AttendeeType.Required, p.name) for p in sorted(booking.required, key=_key)]
        result += [graph_attendee(p.email, AttendeeType.Optional, p.name) for p in sorted(booking.optional, key=_key)]
    listed = {a["emailAddress"]["address"] for a in result}
    result += [graph_attendee(a.email, AttendeeType.Resource, a.name) for a in preserved if a.email not in listed]
    return result


def _key(person: Person) -> str:
    return person.email


def extended(props: Mapping[str, str]) -> list[Body]:
    """``singleValueExtendedProperties``: one ``{id, value}`` per property (graph-and-ews.md 1.4)."""
    return [{"id": k, "value": v} for k, v in props.items()]


def new_event(booking: Booking, attendees: list[Body], props: Mapping[str, str], transaction_id: str) -> Body:
    """The body of ``POST /users/{room}/events`` (``responseRequested``: invitees are asked to answer, Graph's
    default stated explicitly). Raises :class:`~.recurrence.RecurrenceNotExpressible`."""
    event: Body = {
        "subject": booking.subject,
        "start": when(booking.start, booking),
        "end": when(booking.end, booking),
        "isAllDay": booking.all_day,
        "attendees": attendees,
        "singleValueExtendedProperties": extended(props),
        "transactionId": transaction_id,
        "responseRequested": True,
    }
    if booking.recurrence is not None:
        event["recurrence"] = rec.to_graph(booking.recurrence, booking.start, booking.timezone)
    return event


def is_email(value: str) -> bool:
    try:
        normalise_email(value)
    except ValueError:
        return False
    return True
