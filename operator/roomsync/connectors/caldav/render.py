"""Bookings written as iCalendar with icalendar: new resources, and edits of existing ones.

A new resource is what a CalDAV client would write for the meeting: ORGANIZER is the person the booking is for,
people are ATTENDEEs with their ROLE, the rooms are ``CUTYPE=ROOM`` attendees that have accepted (Planon reserved
them), times carry their TZID and a VTIMEZONE, a series is one resource (RRULE, EXDATEs, RECURRENCE-ID overrides).
``SCHEDULE-AGENT=CLIENT`` on every calendar user tells a server with implicit scheduling (RFC 6638) to send no
invitations: RoomSync's writes invite nobody.

An edit starts from the resource as read and changes only the properties of the fields that differ, so descriptions,
alarms, attendees' answers and other clients' properties survive. Exceptions outside the sync window are kept as
they are: Planon only knows the ones inside it.

Two Radicale findings shape the output (docs/caldav.md): a multi-valued ``RDATE`` in a VTIMEZONE is cut to its first
value, so every RDATE goes on its own line; and an unescaped comma cuts an X- value (see :mod:`.linkprop`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import icalendar

from roomsync.connectors.caldav.linkprop import COMMENT_PARAMETER, LINK_PROPERTY, comment_parameter, encode_link
from roomsync.connectors.caldav.resource import Resource, address, events, instant, parse_attendee, prop, values
from roomsync.model import Booking, Link, OccurrenceOverride, Person, Window, zone

PRODID = "-//RoomSync//CalDAV connector//EN"
WHEN_FIELDS = frozenset({"start", "end", "allDay", "recurrence"})
PEOPLE_FIELDS = frozenset({"organizer", "required", "optional"})
#: VTIMEZONE observances are written for this many years after a series starts (the events are read by TZID).
SERIES_ZONE_YEARS = 10


@dataclass(frozen=True)
class RoomAttendee:
    """A room of this RoomSync as an ATTENDEE: its calendar address and the name shown (its Planon code)."""

    email: str
    name: str


# -- values -----------------------------------------------------------------------------------------------------------
def _local(moment: datetime, booking: Booking) -> date | datetime:
    """An instant as the booking's resource writes it: a date for all-day, UTC, or a time in the booking's zone."""
    if booking.all_day:
        return moment.astimezone(zone(booking.timezone)).date()
    if booking.timezone == "UTC":
        return moment.astimezone(UTC)
    return moment.astimezone(zone(booking.timezone))


def _set(component: icalendar.cal.Component, name: str, value: Any) -> None:
    component.pop(name, None)
    component.add(name, value)


def _organizer(person: Person) -> icalendar.vCalAddress:
    value = icalendar.vCalAddress(f"mailto:{person.email}")
    if person.name:
        value.params["CN"] = person.name
    value.params["SCHEDULE-AGENT"] = "CLIENT"
    return value


def _person(person: Person, role: str) -> icalendar.vCalAddress:
    value = icalendar.vCalAddress(f"mailto:{person.email}")
    if person.name:
        value.params["CN"] = person.name
    value.params.update({"CUTYPE": "INDIVIDUAL", "ROLE": role, "PARTSTAT": "NEEDS-ACTION"})
    value.params["SCHEDULE-AGENT"] = "CLIENT"
    return value


def _room(room: RoomAttendee, partstat: str = "ACCEPTED") -> icalendar.vCalAddress:
    value = icalendar.vCalAddress(f"mailto:{room.email}")
    value.params.update({"CN": room.name, "CUTYPE": "ROOM", "ROLE": "NON-PARTICIPANT", "PARTSTAT": partstat})
    value.params["SCHEDULE-AGENT"] = "CLIENT"
    return value


def _text(calendar: icalendar.Calendar) -> str:
    return bytes(calendar.to_ical()).decode()


def _rrule(booking: Booking) -> icalendar.vRecur:
    assert booking.recurrence is not None
    rule = icalendar.vRecur(icalendar.vRecur.from_ical(booking.recurrence.rule()))
    if booking.recurrence.until is not None:
        # RFC 5545: UNTIL has DTSTART's value type - a date for an all-day series, a UTC time otherwise.
        rule["UNTIL"] = [_local(booking.recurrence.until, booking) if booking.all_day else booking.recurrence.until]
    return rule


def _timezone(booking: Booking) -> icalendar.Timezone | None:
    """A VTIMEZONE for the booking's zone covering its span, one RDATE per line."""
    if booking.all_day or booking.timezone == "UTC":
        return None
    first = booking.start.astimezone(zone(booking.timezone)).date()
    years = SERIES_ZONE_YEARS if booking.recurrence is not None else 1
    component = icalendar.Timezone.from_tzinfo(
        zone(booking.timezone),
        tzid=booking.timezone,
        first_date=date(first.year, 1, 1),
        last_date=date(first.year + years + 1, 1, 1),
    )
    for observance in component.subcomponents:
        onsets = [item.dt for dates in values(observance, "RDATE") for item in dates.dts]
        observance.pop("RDATE", None)
        for onset in onsets:
            observance.add("RDATE", onset)
    return component


def _ensure_timezone(calendar: icalendar.Calendar, booking: Booking) -> None:
    component = _timezone(booking)
    if component is None:
        return
    if any(str(prop(tz, "TZID")) == booking.timezone for tz in calendar.walk("VTIMEZONE")):
        return
    calendar.subcomponents.insert(0, component)


# -- new resources ----------------------------------------------------------------------------------------------------
def new_resource(booking: Booking, *, uid: str, rooms: Sequence[RoomAttendee], link: Link | None, now: datetime) -> str:
    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    master = _vevent(booking, uid=uid, rooms=rooms, now=now)
    master.add("SUMMARY", booking.subject)
    master.add("DTSTART", _local(booking.start, booking))
    master.add("DTEND", _local(booking.end, booking))
    master.add("STATUS", "CONFIRMED")
    master.add("TRANSP", "OPAQUE")
    if link is not None:
        master.add(LINK_PROPERTY, encode_link(link))
    calendar.add_component(master)
    if booking.recurrence is not None:
        master.add("RRULE", _rrule(booking))
        for moment in sorted(booking.recurrence.exdates):
            master.add("EXDATE", _local(moment, booking))
        for change in booking.recurrence.overrides:
            override = _vevent(booking, uid=uid, rooms=rooms, now=now)
            _set_override(override, change, booking)
            calendar.add_component(override)
    _ensure_timezone(calendar, booking)
    return _text(calendar)


def _vevent(booking: Booking, *, uid: str, rooms: Sequence[RoomAttendee], now: datetime) -> icalendar.Event:
    event = icalendar.Event()
    event.add("UID", uid)
    event.add("DTSTAMP", now)
    event.add("CREATED", now)
    event.add("LAST-MODIFIED", now)
    event.add("SEQUENCE", 0)
    if booking.organizer is not None:
        event.add("ORGANIZER", _organizer(booking.organizer))
    for person in sorted(booking.required, key=lambda p: p.email):
        event.add("ATTENDEE", _person(person, "REQ-PARTICIPANT"))
    for person in sorted(booking.optional, key=lambda p: p.email):
        event.add("ATTENDEE", _person(person, "OPT-PARTICIPANT"))
    for room in rooms:
        event.add("ATTENDEE", _room(room))
    return event


def _set_override(component: icalendar.Event, change: OccurrenceOverride, booking: Booking) -> None:
    _set(component, "RECURRENCE-ID", _local(change.original_start, booking))
    _set(component, "DTSTART", _local(change.start, booking))
    _set(component, "DTEND", _local(change.end, booking))
    component.pop("DURATION", None)
    _set(component, "SUMMARY", change.subject or booking.subject)


# -- edits ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Edit:
    """What to change in one room's copy."""

    desired: Booking
    changed: frozenset[str]  # synced field names (model.fingerprint) that differ in this copy
    rooms: Sequence[RoomAttendee]  # the rooms the meeting should have
    ours: frozenset[str]  # every room address of this RoomSync
    link: Link | None
    window: Window | None  # exceptions outside it are kept as they are
    now: datetime


def rewrite(current: Resource, edit: Edit) -> str:
    calendar = icalendar.Calendar.from_ical(current.text)
    master, overrides = events(calendar)
    assert master is not None
    desired = edit.desired
    components = [master, *overrides]
    if "subject" in edit.changed:
        _set(master, "SUMMARY", desired.subject)
        for override in overrides:
            if str(prop(override, "SUMMARY") or current.subject) == current.subject:
                _set(override, "SUMMARY", desired.subject)
    if PEOPLE_FIELDS & edit.changed:
        for component in components:
            _rewrite_people(component, desired, edit.ours)
    if "rooms" in edit.changed:
        for component in components:
            _rewrite_rooms(component, edit.rooms, edit.ours)
    if WHEN_FIELDS & edit.changed:
        _rewrite_when(calendar, master, overrides, current, edit)
        for component in [master, *events(calendar)[1]]:
            _set(component, "SEQUENCE", int(prop(component, "SEQUENCE") or 0) + 1)
        _ensure_timezone(calendar, desired)
    if edit.link is not None:
        _set(master, LINK_PROPERTY, encode_link(edit.link))
    for component in [master, *events(calendar)[1]]:
        _set(component, "DTSTAMP", edit.now)
        _set(component, "LAST-MODIFIED", edit.now)
    return _text(calendar)


def _rewrite_people(component: icalendar.Event, desired: Booking, ours: Collection[str]) -> None:
    organizer = prop(component, "ORGANIZER")
    if desired.organizer is None:
        component.pop("ORGANIZER", None)
    elif organizer is None or address(organizer) != desired.organizer.email:
        _set(component, "ORGANIZER", _organizer(desired.organizer))
    roles = {p.email: ("REQ-PARTICIPANT", p) for p in desired.required}
    roles.update({p.email: ("OPT-PARTICIPANT", p) for p in desired.optional})
    kept = []
    for value in values(component, "ATTENDEE"):
        attendee = parse_attendee(value)
        if attendee is None or not attendee.is_person or attendee.email in ours:
            kept.append(value)  # rooms, resources, non-participants and unreadable addresses are not people
        elif attendee.email in roles:
            role, _ = roles.pop(attendee.email)
            if attendee.role not in ("CHAIR", role):
                value.params["ROLE"] = role
            kept.append(value)
    kept += [_person(person, role) for role, person in sorted(roles.values(), key=lambda r: r[1].email)]
    _replace_attendees(component, kept)


def _rewrite_rooms(component: icalendar.Event, rooms: Sequence[RoomAttendee], ours: Collection[str]) -> None:
    wanted = {room.email: room for room in rooms}
    kept = []
    for value in values(component, "ATTENDEE"):
        email = address(value)
        if email in ours and wanted.pop(email, None) is None:
            continue  # a room of ours that leaves the meeting
        kept.append(value)
    kept += [_room(room) for room in wanted.values()]
    _replace_attendees(component, kept)


def _replace_attendees(component: icalendar.Event, attendees: Iterable[Any]) -> None:
    component.pop("ATTENDEE", None)
    for value in attendees:
        component.add("ATTENDEE", value)


def _rewrite_when(
    calendar: icalendar.Calendar,
    master: icalendar.Event,
    overrides: list[icalendar.Event],
    current: Resource,
    edit: Edit,
) -> None:
    desired, window = edit.desired, edit.window
    _set(master, "DTSTART", _local(desired.start, desired))
    _set(master, "DTEND", _local(desired.end, desired))
    for name in ("DURATION", "RRULE", "EXDATE", "RDATE"):
        master.pop(name, None)
    recurrence = desired.recurrence
    if recurrence is None:
        for override in overrides:
            calendar.subcomponents.remove(override)
        return
    master.add("RRULE", _rrule(desired))

    def inside(moment: datetime) -> bool:
        return window is None or window.start <= moment < window.end

    current_exdates = current.recurrence.exdates if current.recurrence else frozenset()
    for moment in sorted({d for d in current_exdates if not inside(d)} | recurrence.exdates):
        master.add("EXDATE", _local(moment, desired))
    local_start = current.start.astimezone(zone(current.timezone)).time()
    originals = {id(o): instant(prop(o, "RECURRENCE-ID").dt, current.timezone, local_start) for o in overrides}
    horizon = max([*originals.values(), *(o.original_start for o in recurrence.overrides), desired.start])
    occurrences = set(recurrence.starts(desired.start, desired.timezone, horizon + timedelta(days=1)))
    wanted = {o.original_start: o for o in recurrence.overrides}
    for override in overrides:
        original = originals[id(override)]
        change = wanted.pop(original, None)
        if change is not None:
            _set_override(override, change, desired)
        elif original not in occurrences or original in recurrence.exdates:
            calendar.subcomponents.remove(override)  # the rule no longer has this occurrence
        elif inside(original):  # back to the rule's time; what else it says (answers, notes) stays
            _set_override(override, OccurrenceOverride(original, original, original + desired.duration), desired)
        else:
            _set(override, "RECURRENCE-ID", _local(original, desired))
    for change in wanted.values():
        override = icalendar.Event()
        override.add("UID", current.uid)
        override.add("SEQUENCE", int(prop(master, "SEQUENCE") or 0))
        for name in ("ORGANIZER", "ATTENDEE"):
            for value in values(master, name):
                override.add(name, value)
        _set_override(override, change, desired)
        calendar.add_component(override)


def answer(current: Resource, room: RoomAttendee, partstat: str, comment: str, now: datetime) -> str:
    """The room's copy with the room's answer: its ATTENDEE's PARTSTAT (added when the organizer did not invite the
    room), the comment, and TRANSP so that a declined meeting leaves the room free."""
    calendar = icalendar.Calendar.from_ical(current.text)
    master, overrides = events(calendar)
    assert master is not None
    for component in [master, *overrides]:
        entries = values(component, "ATTENDEE")
        target = next((v for v in entries if address(v) == room.email), None)
        if target is None:
            if component is not master:
                continue
            target = _room(room, partstat)
            component.add("ATTENDEE", target)
        target.params["PARTSTAT"] = partstat
        target.params["RSVP"] = "FALSE"
        if comment:
            target.params[COMMENT_PARAMETER] = comment_parameter(comment)
        else:
            target.params.pop(COMMENT_PARAMETER, None)
        _set(component, "TRANSP", "TRANSPARENT" if partstat == "DECLINED" else "OPAQUE")
        _set(component, "DTSTAMP", now)
    return _text(calendar)


def relink(current: Resource, link: Link) -> str:
    calendar = icalendar.Calendar.from_ical(current.text)
    master, _ = events(calendar)
    assert master is not None
    _set(master, LINK_PROPERTY, encode_link(link))
    return _text(calendar)
