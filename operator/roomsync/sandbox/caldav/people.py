"""What people's CalDAV clients do to room calendars, and what a room calendar holds as the server expands it.

A CalDAV server without scheduling delivers nothing, so "a person books a room" is the organizer's client writing
the event into the room's calendar collection (every room's, for several rooms) with the person's own login, the
way Thunderbird or Apple Calendar write to a shared calendar: plain HTTP with ``If-None-Match: *`` / ``If-Match``,
iCalendar built with icalendar. For the tests, the scenario suite and the benchmarks, as the Graph sandbox's admin
API plays Outlook. Nothing here imports RoomSync outside the sandbox: what a calendar holds is read back as the
server's own ``calendar-query`` with ``<C:expand>`` returns it, so a translation bug in the connector cannot hide
itself behind shared code.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urljoin
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import icalendar

from roomsync.sandbox.caldav.server import RadicaleServer

DAV, CALDAV = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}"
RESPONSES = {"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentativelyAccepted"}


def utc(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=zone).astimezone(UTC)


def address(value: Any) -> str:
    text = str(value)
    return text[7:].casefold() if text.casefold().startswith("mailto:") else text.casefold()


def timezone_component(tz: str, year: int) -> icalendar.Timezone:
    """A VTIMEZONE as careful clients send it. One RDATE per line: Radicale keeps only the first of a list."""
    component = icalendar.Timezone.from_tzinfo(
        ZoneInfo(tz), tzid=tz, first_date=date(year - 1, 1, 1), last_date=date(year + 3, 1, 1)
    )
    for observance in component.subcomponents:
        rdates = _get(observance, "RDATE")
        onsets = [
            d.dt for group in (rdates if isinstance(rdates, list) else [rdates] if rdates else []) for d in group.dts
        ]
        observance.pop("RDATE", None)
        for onset in onsets:
            observance.add("RDATE", onset)
    return component


@dataclass
class Copy:
    """One room's copy of a meeting as a person's client fetched it."""

    room: str  # room address
    url: str  # the resource's URL
    etag: str
    calendar: icalendar.Calendar

    @property
    def master(self) -> Any:
        return next(c for c in self.calendar.walk("VEVENT") if _get(c, "RECURRENCE-ID") is None)

    @property
    def overrides(self) -> list[Any]:
        return [c for c in self.calendar.walk("VEVENT") if _get(c, "RECURRENCE-ID") is not None]


def _multistatus(body: str) -> list[tuple[str, str | None, str | None]]:
    """(href, etag, calendar data) of each 200 member of a multistatus."""
    found = []
    for response in ElementTree.fromstring(body).iter(f"{DAV}response"):
        href = response.findtext(f"{DAV}href") or ""
        for propstat in response.iter(f"{DAV}propstat"):
            if " 200 " not in (propstat.findtext(f"{DAV}status") or ""):
                continue
            prop = propstat.find(f"{DAV}prop")
            assert prop is not None
            found.append((href, prop.findtext(f"{DAV}getetag"), prop.findtext(f"{CALDAV}calendar-data")))
    return found


def _query(filters: str, *, expand: tuple[datetime, datetime] | None = None) -> str:
    def stamp(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    data = (
        f'<C:calendar-data><C:expand start="{stamp(expand[0])}" end="{stamp(expand[1])}"/></C:calendar-data>'
        if (expand)
        else "<C:calendar-data/>"
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f'<D:prop><D:getetag/>{data}</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f"{filters}</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    )


class People:
    """People writing to and reading from the room calendars ``calendars`` (address -> URL) of ``server``."""

    def __init__(self, server: RadicaleServer, calendars: Mapping[str, str], zone: str = "Europe/Amsterdam") -> None:
        self.server = server
        self.calendars = dict(calendars)
        self.zone = ZoneInfo(zone)

    def login_of(self, email: str | None) -> str:
        """The person's own login when they have one on the server, else the room's delegate (or the service
        account, where there is no delegate)."""
        name = (email or "").split("@", 1)[0]
        if name in self.server.users and name != self.server.service_account:
            return name
        return self.delegate

    # -- HTTP --------------------------------------------------------------------------------------------------------
    def put(self, url: str, calendar: icalendar.Calendar, *, login: str, etag: str | None = None) -> str | None:
        headers = {
            "Content-Type": "text/calendar; charset=utf-8",
            **({"If-Match": etag} if etag else {"If-None-Match": "*"}),
        }
        reply = self.server.request("PUT", url, calendar.to_ical().decode(), user=login, headers=headers)
        assert reply.status in (201, 204), f"PUT {url} as {login}: {reply.status} {reply.body[:300]}"
        return reply.etag

    @property
    def delegate(self) -> str:
        """The login of someone with rights on the room calendars (a room's delegate, or the service account)."""
        return "delegate" if "delegate" in self.server.users else self.server.service_account

    def put_text(self, room: str, name: str, text: str, *, login: str | None = None) -> str | None:
        """A resource exactly as some client wrote it (for what icalendar would never write)."""
        url = f"{self.calendars[room]}{name}"
        reply = self.server.request(
            "PUT", url, text, user=login or self.delegate, headers={"Content-Type": "text/calendar"}
        )
        assert reply.status in (201, 204), f"PUT {url}: {reply.status} {reply.body[:300]}"
        return reply.etag

    def get_text(self, url: str) -> str:
        reply = self.server.request("GET", url, user=self.delegate)
        assert reply.status == 200, f"GET {url}: {reply.status}"
        return reply.body

    def delete(self, copy: Copy, *, login: str) -> None:
        reply = self.server.request("DELETE", copy.url, user=login, headers={"If-Match": copy.etag})
        assert reply.status in (200, 204), f"DELETE {copy.url}: {reply.status} {reply.body[:300]}"

    def report(
        self, calendar_url: str, body: str, *, login: str | None = None
    ) -> list[tuple[str, str | None, str | None]]:
        reply = self.server.request("REPORT", calendar_url, body, user=login or self.delegate, headers={"Depth": "1"})
        assert reply.status == 207, f"REPORT {calendar_url}: {reply.status} {reply.body[:300]}"
        return _multistatus(reply.body)

    # -- what a calendar holds ---------------------------------------------------------------------------------------
    def copies(self, uid: str) -> list[Copy]:
        """Every room's copy of a meeting (found by UID, as a client would after a restart)."""
        found = []
        match = f'<C:prop-filter name="UID"><C:text-match collation="i;octet">{uid}</C:text-match></C:prop-filter>'
        for room, url in sorted(self.calendars.items()):
            for href, etag, data in self.report(url, _query(match)):
                calendar = icalendar.Calendar.from_ical(data or "")
                if str(calendar.walk("VEVENT")[0].get("UID")) == uid:
                    found.append(Copy(room, urljoin(url, href), etag or "", calendar))
        return found

    def resources(self, room: str) -> list[Copy]:
        url = self.calendars[room]
        return [
            Copy(room, urljoin(url, href), etag or "", icalendar.Calendar.from_ical(data or ""))
            for href, etag, data in self.report(url, _query(""))
        ]

    def expanded(self, room: str, start: datetime, end: datetime) -> list[tuple[str, Any]]:
        """(href, instance) of every occurrence in ``[start, end)``, as the server expands the room's calendar."""
        window = (
            f'<C:time-range start="{start.astimezone(UTC):%Y%m%dT%H%M%SZ}" end="{end.astimezone(UTC):%Y%m%dT%H%M%SZ}"/>'
        )
        result = []
        for href, _, data in self.report(self.calendars[room], _query(window, expand=(start, end))):
            for instance in icalendar.Calendar.from_ical(data or "").walk("VEVENT"):
                result.append((href, instance))
        return result

    # -- a person's client -------------------------------------------------------------------------------------------
    def event(
        self,
        uid: str,
        organizer: str,
        rooms: Sequence[str],
        subject: str,
        start: datetime,
        end: datetime,
        *,
        required: Iterable[str] = (),
        optional: Iterable[str] = (),
        rrule: str | None = None,
        all_day: bool = False,
        tz: str = "Europe/Amsterdam",
        organizer_name: str | None = None,
        room_answer: str = "NEEDS-ACTION",
    ) -> icalendar.Calendar:
        calendar = icalendar.Calendar()
        calendar.add("PRODID", "-//RoomSync tests//A person's calendar client//EN")
        calendar.add("VERSION", "2.0")
        event = icalendar.Event()
        event.add("UID", uid)
        event.add("DTSTAMP", datetime.now(UTC))
        event.add("SEQUENCE", 0)
        event.add("SUMMARY", subject)
        zone = ZoneInfo(tz)
        if all_day:
            event.add("DTSTART", start.astimezone(zone).date())
            event.add("DTEND", end.astimezone(zone).date())
        else:
            event.add("DTSTART", start.astimezone(zone))
            event.add("DTEND", end.astimezone(zone))
            calendar.add_component(timezone_component(tz, start.year))
        organizer_value = icalendar.vCalAddress(f"mailto:{organizer}")
        if organizer_name:
            organizer_value.params["CN"] = organizer_name
        event.add("ORGANIZER", organizer_value)
        for role, people in (("REQ-PARTICIPANT", required), ("OPT-PARTICIPANT", optional)):
            for person in people:
                value = icalendar.vCalAddress(f"mailto:{person}")
                value.params.update({"ROLE": role, "PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE"})
                event.add("ATTENDEE", value)
        for room in rooms:
            event.add("ATTENDEE", self.room_attendee(room, room_answer))
        if rrule:
            event.add("RRULE", icalendar.vRecur.from_ical(rrule))
        calendar.add_component(event)
        return calendar

    @staticmethod
    def room_attendee(room: str, partstat: str = "NEEDS-ACTION") -> icalendar.vCalAddress:
        value = icalendar.vCalAddress(f"mailto:{room}")
        value.params.update({"CUTYPE": "ROOM", "ROLE": "NON-PARTICIPANT", "PARTSTAT": partstat, "RSVP": "TRUE"})
        return value

    def book(
        self, organizer: str, rooms: Sequence[str], subject: str, start: datetime, end: datetime, **options: Any
    ) -> str:
        """The organizer's client writes the meeting into each room's calendar; returns the UID."""
        uid = f"{uuid.uuid4()}@client.example"
        calendar = self.event(uid, organizer, rooms, subject, start, end, **options)
        for room in rooms:
            self.put(f"{self.calendars[room]}{uid}.ics", calendar, login=self.login_of(organizer))
        return uid

    def _write_all(self, copies: list[Copy], change: Any, *, login: str | None = None) -> None:
        for copy in copies:
            change(copy)
            who = login or self.login_of(address(_get(copy.master, "ORGANIZER")))
            self.put(copy.url, copy.calendar, login=who, etag=copy.etag)

    def edit(self, uid: str, *, by_organizer: bool = True, **changes: Any) -> None:
        """A change to the meeting: subject, start, end, rrule, required, optional, rooms (addresses).

        By its organizer (their client rewrites every room's copy): like Outlook and Thunderbird on a reschedule, a
        new time or pattern asks the rooms again (PARTSTAT back to NEEDS-ACTION, SEQUENCE up). Otherwise by the
        room's delegate, editing the room calendar: nobody is asked again. A new pattern drops the series'
        exceptions either way."""
        copies = self.copies(uid)
        assert copies, f"no room holds {uid}"
        editor = None if by_organizer else self.delegate

        def change(copy: Copy) -> None:
            master = copy.master
            old_subject = str(_get(master, "SUMMARY") or "")
            tz = _get(master, "DTSTART").dt.tzinfo if isinstance(_get(master, "DTSTART").dt, datetime) else self.zone
            for component in [master, *copy.overrides]:
                if "subject" in changes and str(_get(component, "SUMMARY") or "") == old_subject:
                    component.pop("SUMMARY")
                    component.add("SUMMARY", changes["subject"])
            rescheduled = bool({"start", "end", "rrule"} & set(changes))
            if "start" in changes:
                master.pop("DTSTART")
                master.add("DTSTART", changes["start"].astimezone(tz))
            if "end" in changes:
                master.pop("DTEND")
                master.add("DTEND", changes["end"].astimezone(tz))
            if "rrule" in changes or (rescheduled and _get(master, "RRULE") is not None):
                if "rrule" in changes:
                    master.pop("RRULE", None)
                    master.add("RRULE", icalendar.vRecur.from_ical(changes["rrule"]))
                master.pop("EXDATE", None)
                for override in copy.overrides:
                    copy.calendar.subcomponents.remove(override)
            attendees = [a for a in _list(_get(master, "ATTENDEE"))]
            if "required" in changes:
                attendees = [
                    a
                    for a in attendees
                    if a.params.get("CUTYPE") == "ROOM" or a.params.get("ROLE") == "OPT-PARTICIPANT"
                ]
                for person in changes["required"]:
                    value = icalendar.vCalAddress(f"mailto:{person}")
                    value.params.update({"ROLE": "REQ-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION"})
                    attendees.append(value)
            if "rooms" in changes:
                wanted = list(changes["rooms"])
                attendees = [a for a in attendees if a.params.get("CUTYPE") != "ROOM" or address(a) in wanted]
                present = {address(a) for a in attendees}
                attendees += [self.room_attendee(room) for room in wanted if room not in present]
            for value in attendees:
                if by_organizer and rescheduled and value.params.get("CUTYPE") == "ROOM":
                    value.params.update({"PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE"})
                    value.params.pop("X-RESPONSE-COMMENT", None)
            master.pop("ATTENDEE", None)
            for value in attendees:
                master.add("ATTENDEE", value)
            if rescheduled:
                sequence = int(_get(master, "SEQUENCE") or 0) + 1
                master.pop("SEQUENCE", None)
                master.add("SEQUENCE", sequence)

        if "rooms" not in changes:
            self._write_all(copies, change, login=editor)
            return
        wanted = list(changes["rooms"])
        keep = [c for c in copies if c.room in wanted]
        self._write_all(keep, change, login=editor)
        template = keep[0] if keep else copies[0]
        if not keep:
            change(template)
        who = editor or self.login_of(address(_get(template.master, "ORGANIZER")))
        for room in wanted:
            if room not in {c.room for c in copies}:
                self.put(f"{self.calendars[room]}{uid}.ics", template.calendar, login=who)
        for copy in copies:
            if copy.room not in wanted:
                self.delete(copy, login=who)

    def cancel(self, uid: str, *, by_organizer: bool = True) -> None:
        """The organizer deletes the meeting (their client removes it from every room calendar it wrote), or the
        room's delegate deletes it from the room calendar."""
        for copy in self.copies(uid):
            who = self.login_of(address(_get(copy.master, "ORGANIZER"))) if by_organizer else self.delegate
            self.delete(copy, login=who)

    def move_occurrence(self, uid: str, original: datetime, start: datetime, end: datetime) -> None:
        def change(copy: Copy) -> None:
            tz = _get(copy.master, "DTSTART").dt.tzinfo
            override = next(
                (o for o in copy.overrides if utc(_get(o, "RECURRENCE-ID").dt, self.zone) == original), None
            )
            if override is None:
                override = icalendar.Event()
                for name in ("UID", "SUMMARY", "ORGANIZER", "ATTENDEE", "SEQUENCE"):
                    for value in _list(copy.master.get(name)):
                        override.add(name, value)
                override.add("DTSTAMP", datetime.now(UTC))
                override.add("RECURRENCE-ID", original.astimezone(tz))
                copy.calendar.add_component(override)
            for name, value in (("DTSTART", start), ("DTEND", end)):
                override.pop(name, None)
                override.add(name, value.astimezone(tz))

        self._write_all(self.copies(uid), change)

    def cancel_occurrence(self, uid: str, original: datetime) -> None:
        def change(copy: Copy) -> None:
            for override in copy.overrides:
                if utc(_get(override, "RECURRENCE-ID").dt, self.zone) == original:
                    copy.calendar.subcomponents.remove(override)
            copy.master.add("EXDATE", original.astimezone(_get(copy.master, "DTSTART").dt.tzinfo))

        self._write_all(self.copies(uid), change)


def _get(component: Any, name: str) -> Any:
    """A property as icalendar parsed it (its value classes vary by property)."""
    return component.get(name)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
