"""Room copies of one meeting -> one canonical Booking, and a Booking -> the values of the EWS item to write.

Grouping: every room's copy of a meeting carries the same UID (Graph's iCalUId - the same value), so the copies held
by this RoomSync's rooms become ONE booking whose ``id`` is the UID: the same id the Graph connector gives it, which
is what lets a room move from EWS to Graph without its Planon link losing its peer. The primary copy (the
organizer's item when one of our rooms organises the meeting, else the first room's copy) supplies the content.

People: as in the Graph connector. Our rooms become ``rooms``; other resources are left out; meetings RoomSync
creates are organised by the room and name their person in the people property.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, time
from typing import Any

from exchangelib import EWSDateTime, EWSTimeZone
from exchangelib.errors import UnknownTimeZone
from exchangelib.properties import Attendee as EwsAttendee
from exchangelib.properties import Mailbox
from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

from roomsync.connectors.base import Invitations
from roomsync.connectors.ews import recurrence as rec
from roomsync.connectors.ews.items import Item
from roomsync.connectors.exchange import Attendee, Copy, attendee_people, best_link, person, primary
from roomsync.model import Booking, Handle, OccurrenceOverride, Status, to_windows, zone
from roomsync.model.people_text import decode_people


def _recurrence(master: Item) -> Any:
    base = rec.from_ews(master.recurrence, master.start, master.timezone)
    overrides = [
        OccurrenceOverride(
            m.original_start, m.start, m.end, m.subject if m.subject and m.subject != master.subject else None
        )
        for m in master.modified
    ]
    return base.with_exceptions(master.deleted, overrides)


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
    recurrence = _recurrence(main) if main.is_master and main.recurrence is not None else None
    awaiting = any(c.item.awaiting for c in live)
    status = Status.CANCELLED if not live else Status.TENTATIVE if awaiting else Status.CONFIRMED
    holders = live or copies
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
        rooms=frozenset(c.room for c in holders),
        recurrence=recurrence,
        status=status,
        ical_uid=uid,
        link=best_link(copies),
        awaiting_response=awaiting,
        handle=Handle(
            {c.room: (c.item.id,) for c in holders},
            {c.item.id: c.item.change_key for c in holders if c.item.change_key},
        ),
        last_modified=max(modified) if modified else None,
    )


# -- writing ---------------------------------------------------------------------------------------------------------
def ews_zone(booking: Booking) -> EWSTimeZone:
    """The booking's zone as exchangelib names it (a Windows id on the wire). An IANA zone exchangelib has no Windows
    id for is replaced by the CLDR zone of its Windows id, which has the same rules."""
    try:
        return EWSTimeZone(booking.timezone)
    except UnknownTimeZone:
        return EWSTimeZone(MS_TIMEZONE_TO_IANA_MAP.get(to_windows(booking.timezone), "UTC"))


def when(value: datetime, booking: Booking) -> EWSDateTime:
    """A wall time in the booking's zone (so series keep their local time across DST); midnight for all-day items.

    All-day times are written as the local midnights themselves, not as dates, so exchangelib sends them unchanged.
    """
    local = value.astimezone(zone(booking.timezone))
    if booking.all_day:
        local = datetime.combine(local.date(), time(), local.tzinfo)
    return EWSDateTime(
        local.year, local.month, local.day, local.hour, local.minute, local.second, tzinfo=ews_zone(booking)
    )


def times(booking: Booking) -> dict[str, Any]:
    tz = ews_zone(booking)
    return {
        "start": when(booking.start, booking),
        "end": when(booking.end, booking),
        "is_all_day": booking.all_day,
        "_start_timezone": tz,
        "_end_timezone": tz,
    }


def _attendee(email: str, name: str = "") -> EwsAttendee:
    return EwsAttendee(mailbox=Mailbox(email_address=email, name=name or None), response_type="Unknown")


def attendees_for(
    booking: Booking, policy: Invitations, other_rooms: Iterable[str], preserved: Iterable[Attendee] = ()
) -> dict[str, list[EwsAttendee]]:
    """Required/optional attendees and resources of a meeting a room organises: other rooms as resources (they must
    be invited to hold it), people per the invitations policy, resources we do not manage kept as they were."""
    resources = [_attendee(m) for m in sorted(set(other_rooms))]
    listed = {m for m in other_rooms}
    resources += [_attendee(a.email, a.name) for a in preserved if a.type == "resource" and a.email not in listed]
    required: list[EwsAttendee] = []
    optional: list[EwsAttendee] = []
    if policy is not Invitations.NONE and booking.organizer is not None:
        required.append(_attendee(booking.organizer.email, booking.organizer.name))
    if policy is Invitations.ALL:
        required += [_attendee(p.email, p.name) for p in sorted(booking.required, key=lambda p: p.email)]
        optional += [_attendee(p.email, p.name) for p in sorted(booking.optional, key=lambda p: p.email)]
    return {"required_attendees": required, "optional_attendees": optional, "resources": resources}


def content(booking: Booking) -> dict[str, Any]:
    """Subject, times and pattern of a booking as CalendarItem values; raises RecurrenceNotExpressible."""
    values: dict[str, Any] = {"subject": booking.subject, **times(booking)}
    if booking.recurrence is not None:
        values["recurrence"] = rec.to_ews(booking.recurrence, booking.start, booking.timezone)
    return values
