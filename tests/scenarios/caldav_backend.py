"""The calendar adapter for CalDAV: a real Radicale (one per test process, fresh calendars per world).

People act through their own CalDAV clients (:class:`roomsync.sandbox.caldav.people.People`): booking a room is
writing the event into the room's calendar collection, as a client does on a server without scheduling. What a room
calendar holds is read back expanded by Radicale itself (``calendar-query`` with ``<C:expand>``), never by the
connector.

There is no room agent: nothing accepts or declines until RoomSync writes the room's PARTSTAT (Planon in the lead),
and a following room's meeting stays "not responded" while Planon registers it. Scenarios that need Exchange's
booking assistant are left out for this backend by the scenario conftest (see docs/caldav.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from roomsync.sandbox.caldav import RadicaleServer
from roomsync.sandbox.caldav.people import RESPONSES, People, address, utc
from tests.caldav.radicale import SERVICE_PASSWORD, shared_radicale, unique
from tests.scenarios.world import AMSTERDAM, CalendarEntry, Room

ROOM_ZONE = "Europe/Amsterdam"


class CaldavCalendar:
    name = "caldav"

    def __init__(self) -> None:
        self.server: RadicaleServer | None = None
        self.rooms: dict[str, Room] = {}
        self.people: People | None = None
        #: meetings a person booked from their client; others (made by RoomSync) are edited by the room's delegate
        self.booked: set[str] = set()

    @property
    def folk(self) -> People:
        assert self.people is not None, "not started"
        return self.people

    async def start(self, rooms: Sequence[Room]) -> None:
        self.server = await asyncio.to_thread(shared_radicale)
        world = unique("world")
        calendars = {}
        for room in rooms:
            calendars[room.mailbox] = await asyncio.to_thread(
                self.server.make_calendar, f"{world}-{room.code.lower()}", display_name=room.code, time_zone=ROOM_ZONE
            )
        self.rooms = {r.mailbox: r for r in rooms}
        self.people = People(self.server, calendars, ROOM_ZONE)

    async def stop(self) -> None:
        return None  # the server is shared by the test process; its calendars are this world's alone

    def connection(self) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
        assert self.server is not None
        spec = {
            "url": self.server.url,
            "auth": {"basic": {"username": "room-sync", "secretRef": {"name": "caldav", "key": "password"}}},
            "calendars": [{"room": room, "url": url} for room, url in sorted(self.folk.calendars.items())],
        }
        return {"caldav": spec}, {("caldav", "password"): SERVICE_PASSWORD}

    async def set_rewrites(self, room: Room, *, add_organizer: bool, delete_subject: bool) -> None:
        raise NotImplementedError("a CalDAV server has no room agent that rewrites subjects")

    # -- people in their calendar clients -------------------------------------------------------------------------
    async def book(
        self,
        organizer: str,
        rooms: Sequence[Room],
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
    ) -> str:
        uid = await asyncio.to_thread(
            self.folk.book,
            organizer,
            [r.mailbox for r in rooms],
            subject,
            start,
            end,
            required=list(required),
            optional=list(optional),
            rrule=rrule,
            all_day=all_day,
            tz=tz,
            organizer_name=organizer_name,
        )
        self.booked.add(uid)
        return uid

    async def edit(self, meeting: str, **changes: Any) -> None:
        if "rooms" in changes:
            changes["rooms"] = [r.mailbox for r in changes["rooms"]]
        await asyncio.to_thread(self.folk.edit, meeting, by_organizer=meeting in self.booked, **changes)

    async def cancel(self, meeting: str) -> None:
        await asyncio.to_thread(self.folk.cancel, meeting, by_organizer=meeting in self.booked)

    async def move_occurrence(self, meeting: str, original: datetime, start: datetime, end: datetime) -> None:
        await asyncio.to_thread(self.folk.move_occurrence, meeting, original, start, end)

    async def cancel_occurrence(self, meeting: str, original: datetime) -> None:
        await asyncio.to_thread(self.folk.cancel_occurrence, meeting, original)

    # -- what a room calendar holds -------------------------------------------------------------------------------
    async def items(self, room: Room) -> int:
        return len(await asyncio.to_thread(self.folk.resources, room.mailbox))

    async def entries(self, room: Room, start: datetime, end: datetime) -> list[CalendarEntry]:
        stored = {c.url.rsplit("/", 1)[-1]: c for c in await asyncio.to_thread(self.folk.resources, room.mailbox)}
        instances = await asyncio.to_thread(self.folk.expanded, room.mailbox, start, end)
        ours = set(self.rooms)
        result = []
        for href, instance in instances:
            resource = stored[href.rsplit("/", 1)[-1]]
            master = resource.master
            attendees = _list(instance.get("ATTENDEE")) or _list(master.get("ATTENDEE"))
            answer = next(
                (a.params.get("PARTSTAT", "NEEDS-ACTION") for a in attendees if address(a) == room.mailbox), None
            )
            people = [
                a for a in attendees if a.params.get("CUTYPE") not in ("ROOM", "RESOURCE") and address(a) not in ours
            ]
            organizer = address(instance.get("ORGANIZER") or master.get("ORGANIZER")) or None
            all_day = not isinstance(instance["DTSTART"].dt, datetime)
            begin = utc(instance["DTSTART"].dt, AMSTERDAM)
            finish = utc(instance["DTEND"].dt, AMSTERDAM) if instance.get("DTEND") else begin
            recurrence_id = instance.get("RECURRENCE-ID")
            overridden = {utc(o["RECURRENCE-ID"].dt, AMSTERDAM) for o in resource.overrides}
            result.append(
                CalendarEntry(
                    meeting=str(master["UID"]),
                    item=resource.url,
                    subject=str(instance.get("SUMMARY") or ""),
                    start=begin,
                    end=finish,
                    all_day=all_day,
                    organizer=organizer,
                    required=frozenset(address(a) for a in people if a.params.get("ROLE") != "OPT-PARTICIPANT")
                    - {organizer},
                    optional=frozenset(address(a) for a in people if a.params.get("ROLE") == "OPT-PARTICIPANT"),
                    response=RESPONSES.get(str(answer), "notResponded"),
                    cancelled=str(instance.get("STATUS") or "").upper() == "CANCELLED" or answer == "DECLINED",
                    recurring=master.get("RRULE") is not None,
                    exception=recurrence_id is not None and utc(recurrence_id.dt, AMSTERDAM) in overridden,
                )
            )
        return sorted(result, key=lambda e: (e.start, e.meeting))

    async def answers(self, meeting: str) -> list[tuple[str, str, str]]:
        """The rooms' answers as each room's copy holds them now (a CalDAV server sends no mail to log)."""
        result = []
        for copy in await asyncio.to_thread(self.folk.copies, meeting):
            for value in _list(copy.master.get("ATTENDEE")):
                partstat = str(value.params.get("PARTSTAT") or "NEEDS-ACTION")
                if address(value) == copy.room and partstat in RESPONSES:
                    result.append((copy.room, RESPONSES[partstat], str(value.params.get("X-RESPONSE-COMMENT") or "")))
        return result


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
