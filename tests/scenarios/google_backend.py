"""The calendar adapter for Google Workspace room resources: the Google sandbox and its admin API.

People act through the sandbox's admin endpoints (a person in Google Calendar; the room's manager); what a room
calendar holds is read from the emulated domain and expanded with the emulator's own recurrence code, never the
connector's, so a translation bug cannot hide itself.

Rooms in the lead "automatically add all invitations" (the answer waits for RoomSync); following rooms
"auto-accept invitations that do not conflict". Google rooms never rewrite subjects, so the scenarios about
rewriting rooms are left out for Google (the ``subject_rewrites`` feature). The world speaks Outlook's words for
answers; they are mapped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from roomsync.sandbox.google import GoogleSandbox
from roomsync.sandbox.google.model import Calendar, busy_response
from tests.scenarios.world import DOMAIN, CalendarEntry, Room

ANSWER_WORDS = {("resource", "accepted"): "accept", ("resource", "declined"): "decline"}
#: The world's CalendarEntry.response speaks Outlook's words; Google's responseStatus values mapped onto them.
RESPONSE_WORDS = {
    "needsAction": "notResponded",
    "accepted": "accepted",
    "tentative": "tentative",
    "declined": "declined",
}


def lines(rrule: str) -> list[str]:
    return [f"RRULE:{rrule}"]


class GoogleCalendar:
    name = "google"
    #: Google posts channel messages to the endpoint
    features = frozenset({"notifies_at_the_endpoint"})

    def __init__(self) -> None:
        self.sandbox: GoogleSandbox | None = None
        self.rooms: dict[str, Room] = {}

    @property
    def sb(self) -> GoogleSandbox:
        assert self.sandbox is not None
        return self.sandbox

    async def start(self, rooms: Sequence[Room]) -> None:
        self.rooms = {r.mailbox: r for r in rooms}
        self.sandbox = GoogleSandbox(
            [
                {
                    "email": r.mailbox,
                    "name": f"Room {r.code}",
                    "capacity": 12,
                    "building": "AMS",
                    "booking": "addAll" if r.leads else "autoAccept",
                }
                for r in rooms
            ],
            domain=DOMAIN,
        )
        await self.sandbox.start()

    async def stop(self) -> None:
        if self.sandbox is not None:
            await self.sandbox.stop()

    def connection(self) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
        spec, secrets = self.sb.connection_spec()
        return {"google": {**spec, "backoffBaseMilliseconds": 5}}, secrets

    async def set_rewrites(self, room: Room, *, add_organizer: bool, delete_subject: bool) -> None:
        raise AssertionError("Google room resources never rewrite subjects (scenario 10 is left out for Google)")

    # -- a person in Google Calendar -------------------------------------------------------------------------
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
        return await self.sb.admin.book(
            organizer,
            [r.mailbox for r in rooms],
            subject,
            start,
            end,
            list(required),
            optional=list(optional),
            recurrence=lines(rrule) if rrule else (),
            time_zone=tz,
            all_day=all_day,
            organizer_name=organizer_name,
            guests_can_modify=True,  # people here let guests (rooms, so RoomSync) change their meetings
        )

    async def edit(self, meeting: str, **changes: Any) -> None:
        body: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "rooms":
                body["rooms"] = [r.mailbox for r in value]
            elif key == "required":
                body["attendees"] = list(value)
            elif key == "rrule":
                body["recurrence"] = lines(value)
            elif key == "tz":
                body["timeZone"] = value
            else:
                body[key] = value
        await self.sb.admin.edit(meeting, **body)

    async def cancel(self, meeting: str) -> None:
        await self.sb.admin.cancel(meeting)

    async def move_occurrence(self, meeting: str, original: datetime, start: datetime, end: datetime) -> None:
        await self.sb.admin.edit_occurrence(meeting, original, start=start, end=end)

    async def cancel_occurrence(self, meeting: str, original: datetime) -> None:
        await self.sb.admin.cancel_occurrence(meeting, original)

    # -- what a room calendar holds ----------------------------------------------------------------------------
    def _calendar(self, room: Room) -> Calendar:
        return self.sb.state.calendars.calendars[room.mailbox]

    async def items(self, room: Room) -> int:
        return len([e for e in self._calendar(room).events.values() if not e.get("recurringEventId")])

    async def entries(self, room: Room, start: datetime, end: datetime) -> list[CalendarEntry]:
        calendar = self._calendar(room)
        calendars = self.sb.state.calendars
        result = []
        for event in list(calendar.events.values()):
            if event.get("recurringEventId"):
                continue
            organizer, required, optional = _people(event, set(self.rooms))
            own = busy_response(event, calendar.id)
            response = "organizer" if own is None else own
            cancelled = event["status"] == "cancelled" or own == "declined"
            if event.get("recurrence") and event["status"] != "cancelled":
                occurrences = calendars.instances(calendar, event, start, end)
            elif event["_s"] < end and event["_e"] > start:
                occurrences = [event]
            else:
                occurrences = []
            for occurrence in occurrences:
                declined = busy_response(occurrence, calendar.id) == "declined"
                result.append(
                    CalendarEntry(
                        meeting=event["iCalUID"],
                        item=event["id"],
                        subject=occurrence.get("summary", ""),
                        start=occurrence["_s"],
                        end=occurrence["_e"],
                        all_day=event["_allday"],
                        organizer=organizer,
                        required=required,
                        optional=optional,
                        response=RESPONSE_WORDS.get(response, response),
                        cancelled=cancelled or occurrence["status"] == "cancelled" or declined,
                        recurring=bool(event.get("recurrence")),
                        exception=occurrence is not event and not occurrence.get("_virtual"),
                    )
                )
        return sorted(result, key=lambda e: (e.start, e.meeting))

    async def answers(self, meeting: str) -> list[tuple[str, str, str]]:
        """The rooms' answers: the room's own (auto-accept) as accept/decline, a written one as its status."""
        return [
            (r["room"], ANSWER_WORDS.get((r["by"], r["response"]), r["response"]), r["comment"])
            for r in self.sb.state.calendars.responses
            if r["iCalUID"] == meeting
            and r["room"] in self.rooms
            and r["by"] != "replaced"
            and not (r["by"] == "resource" and r["response"] == "needsAction")
        ]


def _people(event: dict[str, Any], rooms: set[str]) -> tuple[str | None, frozenset[str], frozenset[str]]:
    """Who the meeting is for. A meeting a room organises (made in Planon) names its person in RoomSync's
    documented ``people`` property (private to the room's copy); otherwise the organizer and attendees."""
    organizer = str((event.get("organizer") or {}).get("email") or "").casefold()
    private = (event.get("extendedProperties") or {}).get("private") or {}
    for key, value in private.items():
        if "." in key:
            continue
        text = value + "".join(private[f"{key}.{i}"] for i in range(1, 30) if f"{key}.{i}" in private)
        try:
            data = json.loads(text)
        except ValueError:
            continue
        if isinstance(data, dict) and "o" in data and organizer in rooms:
            return data.get("o"), frozenset(data.get("r", [])), frozenset(data.get("p", []))
    people = [a for a in event.get("attendees") or [] if a["email"] not in rooms and not a.get("resource")]
    required = frozenset(a["email"] for a in people if not a.get("optional"))
    optional = frozenset(a["email"] for a in people if a.get("optional"))
    return organizer, required - {organizer}, optional - {organizer}
