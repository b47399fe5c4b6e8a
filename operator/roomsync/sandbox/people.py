"""People at the building's touchpoints: a Planon kiosk, Outlook, Google Calendar (over the emulators' admin APIs) and
a CalDAV client (writing into the room calendars of a real Radicale).

They book what :mod:`roomsync.sandbox.building` says people book (the demo and ``roomsync sandbox`` start from the
same day), book one more meeting for ``roomsync sandbox book``, and say what each side holds on a day for
``roomsync sandbox show``: the way a person at that touchpoint would see it, not the way RoomSync reads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from roomsync.sandbox.building import AMSTERDAM, ZONE, CalendarMeeting, KioskBooking, at, person
from roomsync.sandbox.caldav.people import People
from roomsync.sandbox.google.client import SandboxAdmin as GoogleAdmin
from roomsync.sandbox.graph.client import SandboxAdmin as GraphAdmin
from roomsync.sandbox.planon.client import SandboxAdmin as PlanonAdmin

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Entry:
    """One booking as a side shows it on a day."""

    start: datetime
    end: datetime
    subject: str
    who: str
    state: str
    series: bool = False


#: What a room's answer looks like to a person, whatever the vendor calls it.
ANSWERS = {
    "accepted": "accepted",
    "declined": "declined",
    "tentativelyAccepted": "tentative",
    "tentative": "tentative",
    "needsAction": "not answered yet",
    "notResponded": "not answered yet",
    "none": "not answered yet",
    "organizer": "accepted",
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
    "NEEDS-ACTION": "not answered yet",
}


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _on(day: date, start: datetime, *, series_from: bool = False) -> bool:
    local = start.astimezone(AMSTERDAM).date()
    return local <= day if series_from else local == day


class PlanonKiosk:
    """Planon's touchpoints: one reservation per room; no attendees (a person types no invitation list there)."""

    name = "Planon kiosk"

    def __init__(self, admin: PlanonAdmin) -> None:
        self.admin = admin

    async def book(
        self, rooms: Sequence[str], start: datetime, end: datetime, subject: str, requestor: str
    ) -> list[dict[str, Any]]:
        return await self.admin.book(list(rooms), start, end, subject, requestor=requestor)

    async def day(self, unit: str, day: date) -> list[Entry]:
        entries = []
        for r in await self.admin.reservations(unit):
            start = _instant(r["start"])
            if _on(day, start):
                who = r.get("requestor") or r.get("externalRequestor") or ""
                state = str(r["state"]).removeprefix("UsrReservation")
                series = r.get("recurrentReservation") is not None
                entries.append(Entry(start, _instant(r["end"]), r.get("description") or "", who, state, series))
        return entries


class CalendarApp(Protocol):
    """A person's calendar app: sends meeting requests to rooms and shows a room's calendar."""

    name: str

    async def book(
        self,
        organizer: str,
        rooms: Sequence[str],
        subject: str,
        start: datetime,
        end: datetime,
        required: Iterable[str] = (),
        optional: Iterable[str] = (),
        weekly: int = 0,
    ) -> str:
        """Send the request; the meeting's iCalendar UID."""
        ...

    async def answer(self, room: str, ical_uid: str) -> str:
        """How the room answered so far: ``accepted``, ``declined``, ``not answered yet``."""
        ...

    async def day(self, room: str, day: date) -> list[Entry]: ...

    async def aclose(self) -> None: ...


class Outlook:
    """Exchange through the Graph sandbox: the room's booking assistant answers at once (unless Planon leads)."""

    name = "Outlook"

    def __init__(self, admin: GraphAdmin) -> None:
        self.admin = admin

    async def book(
        self,
        organizer: str,
        rooms: Sequence[str],
        subject: str,
        start: datetime,
        end: datetime,
        required: Iterable[str] = (),
        optional: Iterable[str] = (),
        weekly: int = 0,
    ) -> str:
        recurrence = None
        if weekly:
            local = start.astimezone(AMSTERDAM)
            recurrence = {
                "pattern": {
                    "type": "weekly",
                    "interval": 1,
                    "daysOfWeek": [WEEKDAYS[local.weekday()]],
                    "firstDayOfWeek": "monday",
                },
                "range": {
                    "type": "numbered",
                    "startDate": local.date().isoformat(),
                    "numberOfOccurrences": weekly,
                    "recurrenceTimeZone": "W. Europe Standard Time",
                },
            }
        uid: str = await self.admin.book_in_outlook(
            organizer,
            list(rooms),
            subject,
            start,
            end,
            list(required),
            optional=list(optional),
            time_zone=ZONE,
            recurrence=recurrence,
        )
        return uid

    async def answer(self, room: str, ical_uid: str) -> str:
        for event in await self.admin.room_events(room):
            if event["iCalUId"] == ical_uid:
                answer = str(event["response"])
                return ANSWERS.get(answer, answer)
        return "not in the room's calendar"

    async def day(self, room: str, day: date) -> list[Entry]:
        entries = []
        for event in await self.admin.room_events(room):
            series = event["type"] == "seriesMaster"
            start = _instant(event["start"])
            if event["type"] in ("singleInstance", "seriesMaster") and _on(day, start, series_from=series):
                answer = str(event["response"])
                state = "cancelled" if event["isCancelled"] else ANSWERS.get(answer, answer)
                who = event.get("organizer") or ""
                entries.append(Entry(start, _instant(event["end"]), event["subject"], who, state, series))
        return entries

    async def aclose(self) -> None:
        await self.admin.aclose()


class GoogleCalendar:
    """Google Workspace through its sandbox: a room that follows accepts at once; one in the lead leaves the
    invitation for RoomSync (Planon) to answer."""

    name = "Google Calendar"

    def __init__(self, admin: GoogleAdmin) -> None:
        self.admin = admin

    async def book(
        self,
        organizer: str,
        rooms: Sequence[str],
        subject: str,
        start: datetime,
        end: datetime,
        required: Iterable[str] = (),
        optional: Iterable[str] = (),
        weekly: int = 0,
    ) -> str:
        recurrence = [f"RRULE:FREQ=WEEKLY;COUNT={weekly}"] if weekly else []
        uid: str = await self.admin.book(
            organizer,
            list(rooms),
            subject,
            start,
            end,
            list(required),
            optional=list(optional),
            recurrence=recurrence,
            time_zone=ZONE,
        )
        return uid

    @staticmethod
    def _room_answer(event: Mapping[str, Any]) -> str:
        if (event.get("organizer") or {}).get("self"):
            return "accepted"  # the room's own event (RoomSync books there for Planon)
        for attendee in event.get("attendees") or []:
            if attendee.get("self"):
                return str(attendee.get("responseStatus") or "needsAction")
        return "needsAction"

    async def answer(self, room: str, ical_uid: str) -> str:
        for event in await self.admin.events(room):
            if event.get("iCalUID") == ical_uid and not event.get("recurringEventId"):
                answer = self._room_answer(event)
                return ANSWERS.get(answer, answer)
        return "not in the room's calendar"

    async def day(self, room: str, day: date) -> list[Entry]:
        entries = []
        for event in await self.admin.events(room):
            when = event.get("start") or {}
            if event.get("recurringEventId") or "dateTime" not in when:
                continue
            series = bool(event.get("recurrence"))
            start = _instant(when["dateTime"])
            if _on(day, start, series_from=series):
                answer = self._room_answer(event)
                state = "cancelled" if event.get("status") == "cancelled" else ANSWERS.get(answer, answer)
                who = (event.get("organizer") or {}).get("email", "")
                end = _instant(event["end"]["dateTime"])
                entries.append(Entry(start, end, event.get("summary") or "", who, state, series))
        return entries

    async def aclose(self) -> None:
        await self.admin.aclose()


class CalDavClient:
    """A person's CalDAV client (Thunderbird, Apple Calendar): it writes the meeting into each room's calendar with
    the person's own login. Nobody answers for a room that follows; RoomSync answers for one Planon leads."""

    name = "CalDAV client"

    def __init__(self, people: People) -> None:
        self.people = people

    async def book(
        self,
        organizer: str,
        rooms: Sequence[str],
        subject: str,
        start: datetime,
        end: datetime,
        required: Iterable[str] = (),
        optional: Iterable[str] = (),
        weekly: int = 0,
    ) -> str:
        rrule = f"FREQ=WEEKLY;COUNT={weekly}" if weekly else None
        uid: str = await asyncio.to_thread(
            self.people.book,
            organizer,
            list(rooms),
            subject,
            start,
            end,
            required=list(required),
            optional=list(optional),
            rrule=rrule,
            tz=ZONE,
        )
        return uid

    @staticmethod
    def _room_answer(component: Any, room: str) -> str:
        attendees = component.get("ATTENDEE") or []
        for attendee in attendees if isinstance(attendees, list) else [attendees]:
            if str(attendee).casefold().removeprefix("mailto:") == room.casefold():
                answer = str(attendee.params.get("PARTSTAT", "NEEDS-ACTION"))
                return ANSWERS.get(answer, answer)
        return "not invited"

    async def answer(self, room: str, ical_uid: str) -> str:
        copies = await asyncio.to_thread(self.people.copies, ical_uid)
        found = next((c for c in copies if c.room == room), None)
        return self._room_answer(found.master, room) if found else "not in the room's calendar"

    async def day(self, room: str, day: date) -> list[Entry]:
        start = datetime.combine(day, time(), AMSTERDAM)
        instances = await asyncio.to_thread(self.people.expanded, room, start, start + timedelta(days=1))
        entries = []
        for _, instance in instances:
            begin, end = instance.decoded("DTSTART"), instance.decoded("DTEND")
            if not isinstance(begin, datetime):
                continue  # all day
            who = str(instance.get("ORGANIZER") or "").removeprefix("mailto:")
            series = instance.get("RECURRENCE-ID") is not None
            state = self._room_answer(instance, room)
            entries.append(
                Entry(
                    begin.astimezone(UTC), end.astimezone(UTC), str(instance.get("SUMMARY") or ""), who, state, series
                )
            )
        return entries

    async def aclose(self) -> None:
        """Nothing to close: each request is its own connection."""


async def book_the_day(
    kiosk: PlanonKiosk,
    app: CalendarApp,
    day: datetime,
    bookings: Iterable[KioskBooking],
    meetings: Iterable[CalendarMeeting],
    mailbox_of: Mapping[str, str],
) -> list[str]:
    """People book ``day``'s meetings on both sides, as they would; what happened, in words, for the narrative."""
    story = []
    for booking in bookings:
        await kiosk.book(
            booking.rooms, at(day, *booking.start), at(day, *booking.end), booking.subject, person(booking.requestor)
        )
        story.append(booking.story)
    for meeting in meetings:
        await app.book(
            person(meeting.organizer),
            [mailbox_of[meeting.room]],
            meeting.subject,
            at(day, *meeting.start),
            at(day, *meeting.end),
            [person(p) for p in meeting.required],
            [person(p) for p in meeting.optional],
            meeting.weekly,
        )
        story.append(f"{app.name}: {meeting.story}")
    return story
