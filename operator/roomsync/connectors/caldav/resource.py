"""One calendar object resource (one href in one room's collection) read with icalendar into what RoomSync syncs.

RFC 4791 puts a series and all its RECURRENCE-ID overrides into one resource, so a :class:`Resource` is a master
VEVENT with its recurrence (RRULE, EXDATEs, overrides) already folded into a canonical
:class:`~roomsync.model.Recurrence`. Times are read the way the project reads them everywhere:

- ``DTSTART;TZID=…``: the zone's own rules (an IANA TZID is read through zoneinfo, never through the VTIMEZONE the
  resource carries - Radicale rewrites VTIMEZONEs, see docs/caldav.md); a Windows TZID is mapped to IANA; a TZID
  known to neither keeps its exact instants and is labelled with the room's zone;
- UTC (``…Z``): the zone is UTC; floating times: the room's zone;
- all-day (``VALUE=DATE``): whole dates in the room's zone, DTEND exclusive.

An override that moves or renames an occurrence becomes an :class:`~roomsync.model.OccurrenceOverride`; one that is
cancelled (``STATUS:CANCELLED``) or that this room declined (its ATTENDEE ``PARTSTAT=DECLINED``) becomes an EXDATE;
one that only changes what RoomSync does not sync (an attendee's answer, a description) is no exception at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import icalendar

from roomsync.connectors.caldav.linkprop import LINK_PROPERTY, decode_link
from roomsync.model import (
    Link,
    OccurrenceOverride,
    Person,
    Recurrence,
    RecurrenceError,
    UnknownTimeZone,
    to_iana,
    zone,
)

UTC = UTC
ROOM_TYPES = frozenset({"ROOM", "RESOURCE"})


class ResourceError(ValueError):
    """A resource RoomSync cannot translate: it is reported as skipped and its peers are kept.

    ``start``/``end``/``recurring`` say what could still be read, so an unreadable item far outside the window does
    not hold back deletions in its room.
    """

    def __init__(
        self, message: str, *, start: datetime | None = None, end: datetime | None = None, recurring: bool = True
    ) -> None:
        super().__init__(message)
        self.start, self.end, self.recurring = start, end, recurring


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str = ""
    cutype: str = "INDIVIDUAL"
    role: str = "REQ-PARTICIPANT"
    partstat: str = "NEEDS-ACTION"

    @property
    def is_person(self) -> bool:
        return self.cutype not in ROOM_TYPES and self.role != "NON-PARTICIPANT"


@dataclass(frozen=True)
class Resource:
    """What RoomSync reads from one room's copy of a meeting; ``text`` is kept to rewrite it without losing what
    RoomSync does not sync (descriptions, alarms, other clients' properties)."""

    href: str
    etag: str | None
    text: str
    uid: str
    subject: str
    start: datetime
    end: datetime
    timezone: str
    all_day: bool = False
    organizer: Person | None = None
    attendees: tuple[Attendee, ...] = ()
    recurrence: Recurrence | None = None
    cancelled: bool = False
    link: Link | None = None
    last_modified: datetime | None = None

    def attendee(self, address: str) -> Attendee | None:
        return next((a for a in self.attendees if a.email == address), None)

    def answer(self, address: str) -> str | None:
        """The PARTSTAT of ``address`` (a room's answer), ``None`` when it is not an attendee."""
        found = self.attendee(address)
        return found.partstat if found else None

    def holds(self, address: str) -> bool:
        """Whether this copy still books the room: not cancelled and not declined by it."""
        return not self.cancelled and self.answer(address) != "DECLINED"

    def with_version(self, etag: str | None, text: str) -> Resource:
        return replace(self, etag=etag, text=text)


# -- helpers shared with the writer -----------------------------------------------------------------------------------
def prop(component: icalendar.cal.Component, name: str) -> Any:
    """A property as icalendar parsed it (its value classes vary by property, so it is ``Any`` to the type checker)."""
    return component.get(name)


def events(calendar: icalendar.Calendar) -> tuple[Any, list[Any]]:
    """(master, overrides) of the only UID in a resource."""
    master = None
    overrides = []
    for component in calendar.walk("VEVENT"):
        if prop(component, "RECURRENCE-ID") is not None:
            overrides.append(component)
        elif master is None:
            master = component
        else:
            raise ResourceError("two VEVENTs without RECURRENCE-ID in one resource")
    return master, overrides


def values(component: icalendar.cal.Component, name: str) -> list[Any]:
    """A property that may occur several times, always as a list."""
    value = prop(component, name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def address(value: object) -> str:
    text = str(value).strip()
    return text[7:].strip().casefold() if text.casefold().startswith("mailto:") else ""


def parse_attendee(value: Any) -> Attendee | None:
    email = address(value)
    if not email:
        return None
    params = getattr(value, "params", {})
    return Attendee(
        email=email,
        name=str(params.get("CN") or ""),
        cutype=str(params.get("CUTYPE") or "INDIVIDUAL").upper(),
        role=str(params.get("ROLE") or "REQ-PARTICIPANT").upper(),
        partstat=str(params.get("PARTSTAT") or "NEEDS-ACTION").upper(),
    )


def zone_name(value: Any, room_zone: str) -> str:
    """The IANA zone of a DTSTART as RoomSync labels the booking."""
    moment = value.dt
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        return room_zone  # floating
    tzid = value.params.get("TZID") or getattr(moment.tzinfo, "key", None)
    if tzid:
        try:
            return to_iana(str(tzid))
        except UnknownTimeZone:
            return room_zone  # a custom VTIMEZONE: the instants are exact, only the label is a guess
    return "UTC" if moment.utcoffset() == timedelta(0) else room_zone


def instant(value: date | datetime, zone_label: str, local_time: time = time()) -> datetime:
    """An aware UTC instant: a date at ``local_time``, a floating time in the zone, an aware time as it is."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=zone(zone_label)).astimezone(UTC)
        return value.astimezone(UTC)
    return datetime.combine(value, local_time, zone(zone_label)).astimezone(UTC)


# -- reading ----------------------------------------------------------------------------------------------------------
def parse(text: str, href: str, etag: str | None, *, room: str, room_zone: str) -> Resource | None:
    """The resource as ``room`` (its calendar address) holds it; ``None`` when it holds no event (a task, a journal).

    Raises :class:`ResourceError` for what cannot be translated.
    """
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise ResourceError(f"not iCalendar data: {exc}") from None
    master, overrides = events(calendar)
    if master is None:
        if overrides:
            raise ResourceError("only RECURRENCE-ID instances, no series master (an invitation to single occurrences)")
        return None
    uid = str(prop(master, "UID") or "").strip()
    if not uid:
        raise ResourceError("VEVENT without UID")
    start_prop = prop(master, "DTSTART")
    if start_prop is None:
        raise ResourceError("VEVENT without DTSTART")
    all_day = not isinstance(start_prop.dt, datetime)
    zone_label = room_zone if all_day else zone_name(start_prop, room_zone)
    start = instant(start_prop.dt, zone_label)
    end = _end(master, start_prop.dt, start, zone_label)
    if end <= start:
        raise ResourceError(f"ends ({end.isoformat()}) before it starts ({start.isoformat()})", recurring=False)
    recurring = prop(master, "RRULE") is not None
    try:
        recurrence = _recurrence(master, overrides, start, end - start, zone_label, room)
    except (RecurrenceError, ValueError) as exc:
        raise ResourceError(f"recurrence: {exc}", start=start, end=end, recurring=recurring) from None
    organizer_value = prop(master, "ORGANIZER")
    organizer = _person(address(organizer_value), str(getattr(organizer_value, "params", {}).get("CN") or ""))
    attendees = tuple(a for a in map(parse_attendee, values(master, "ATTENDEE")) if a is not None)
    modified = prop(master, "LAST-MODIFIED")
    return Resource(
        href=href,
        etag=etag,
        text=text,
        uid=uid,
        subject=str(prop(master, "SUMMARY") or ""),
        start=start,
        end=end,
        timezone=zone_label,
        all_day=all_day,
        organizer=organizer,
        attendees=attendees,
        recurrence=recurrence,
        cancelled=str(prop(master, "STATUS") or "").upper() == "CANCELLED",
        link=decode_link(master.get(LINK_PROPERTY)),
        last_modified=instant(modified.dt, "UTC") if modified is not None else None,
    )


def _person(email: str, name: str) -> Person | None:
    if not email:
        return None
    try:
        return Person(email, name)
    except ValueError:
        return None


def _end(component: icalendar.Event, start_value: date | datetime, start: datetime, zone_label: str) -> datetime:
    end_prop = prop(component, "DTEND")
    if end_prop is not None:
        return instant(end_prop.dt, zone_label)
    duration = prop(component, "DURATION")
    if duration is not None:
        if isinstance(start_value, datetime):
            return start + timedelta(seconds=duration.dt.total_seconds())
        return instant(start_value + duration.dt, zone_label)  # whole days stay whole across DST
    if not isinstance(start_value, datetime):
        return instant(start_value + timedelta(days=1), zone_label)  # RFC 5545: an all-day event of one day
    raise ResourceError("VEVENT with neither DTEND nor DURATION", start=start, recurring=False)


def _recurrence(
    master: icalendar.Event,
    overrides: list[icalendar.Event],
    start: datetime,
    duration: timedelta,
    zone_label: str,
    room: str,
) -> Recurrence | None:
    rules = values(master, "RRULE")
    if not rules:
        if overrides:
            raise ResourceError("RECURRENCE-ID instances without an RRULE in the master")
        return None
    if len(rules) > 1:
        raise RecurrenceError("more than one RRULE")
    if prop(master, "RDATE") is not None:
        raise RecurrenceError("RDATE (extra occurrences) is not supported")
    local_start = start.astimezone(zone(zone_label)).time()
    parts = dict(rules[0])
    until_values = parts.pop("UNTIL", None)
    rule: Any = icalendar.vRecur(parts)
    recurrence = Recurrence.parse(bytes(rule.to_ical()).decode())
    if until_values:
        recurrence = replace(recurrence, until=instant(until_values[0], zone_label, local_start))
    exdates = {instant(v.dt, zone_label, local_start) for v in _dates(values(master, "EXDATE"))}
    moved = []
    for component in overrides:
        rid = prop(component, "RECURRENCE-ID")
        if str(rid.params.get("RANGE") or "").upper() == "THISANDFUTURE":
            raise RecurrenceError("RECURRENCE-ID;RANGE=THISANDFUTURE is not supported")
        original = instant(rid.dt, zone_label, local_start)
        answer = next((a for a in map(parse_attendee, values(component, "ATTENDEE")) if a and a.email == room), None)
        if str(prop(component, "STATUS") or "").upper() == "CANCELLED" or (answer and answer.partstat == "DECLINED"):
            exdates.add(original)
            continue
        own_start = prop(component, "DTSTART")
        moved_start = instant(own_start.dt, zone_label) if own_start is not None else original
        moved_end = _end(component, own_start.dt, moved_start, zone_label) if own_start is not None else None
        moved_end = moved_end or moved_start + duration
        subject = str(prop(component, "SUMMARY") or prop(master, "SUMMARY") or "")
        own_subject = subject if subject != str(prop(master, "SUMMARY") or "") else None
        if (moved_start, moved_end, own_subject) == (original, original + duration, None):
            continue  # changes only what RoomSync does not sync
        moved.append(OccurrenceOverride(original, moved_start, moved_end, own_subject))
    exdates -= {o.original_start for o in moved}
    return recurrence.with_exceptions(exdates, moved)


def _dates(lists: Iterable[Any]) -> Iterator[Any]:
    for item in lists:
        yield from getattr(item, "dts", [item])
