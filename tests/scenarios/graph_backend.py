"""The calendar adapter for Exchange Online through Microsoft Graph: the Graph sandbox and its admin API.

People act through the sandbox's admin endpoints (an organizer in Outlook, a delegate of the room); what a room
calendar holds is read from the emulated tenant and expanded with the emulator's own recurrence code, never with the
connector's, so a translation bug cannot hide itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from roomsync.sandbox.graph import GraphSandbox
from roomsync.sandbox.graph.model import StoredEvent
from tests.scenarios.world import NOW, CalendarEntry, Room

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ICAL_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WINDOWS_ZONES = {"Europe/Amsterdam": "W. Europe Standard Time", "America/New_York": "Eastern Standard Time"}


def graph_recurrence(rrule: str, start: datetime, tz: str) -> dict[str, Any]:
    """The Graph ``patternedRecurrence`` an Outlook user makes for a simple DAILY/WEEKLY rule."""
    parts = dict(p.split("=", 1) for p in rrule.split(";"))
    local_start = start.astimezone(_zone(tz))
    pattern: dict[str, Any] = {"type": parts["FREQ"].lower(), "interval": int(parts.get("INTERVAL", "1"))}
    if parts["FREQ"] == "WEEKLY":
        days = parts.get("BYDAY", ICAL_DAYS[local_start.weekday()]).split(",")
        pattern |= {"daysOfWeek": [DAYS[ICAL_DAYS.index(d)] for d in days], "firstDayOfWeek": "monday"}
    rng: dict[str, Any] = {"startDate": local_start.date().isoformat(), "recurrenceTimeZone": WINDOWS_ZONES.get(tz, tz)}
    if "COUNT" in parts:
        rng |= {"type": "numbered", "numberOfOccurrences": int(parts["COUNT"])}
    elif "UNTIL" in parts:
        rng |= {"type": "endDate", "endDate": date.fromisoformat(_iso_date(parts["UNTIL"])).isoformat()}
    else:
        rng |= {"type": "noEnd"}
    return {"pattern": pattern, "range": rng}


def _iso_date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}"


def _zone(tz: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(tz)


class GraphCalendar:
    name = "graph"
    #: the EWS adapter runs the same Exchange with its EWS face added
    sandbox_class: type[GraphSandbox] = GraphSandbox
    #: Exchange's booking assistant can rewrite subjects (scenario 10); Graph posts notifications to the endpoint
    features = frozenset({"subject_rewrites", "notifies_at_the_endpoint"})

    def __init__(self) -> None:
        self.sandbox: GraphSandbox | None = None
        self.rooms: dict[str, Room] = {}

    @property
    def sb(self) -> GraphSandbox:
        assert self.sandbox is not None
        return self.sandbox

    async def start(self, rooms: Sequence[Room]) -> None:
        self.rooms = {r.mailbox: r for r in rooms}
        self.sandbox = self.sandbox_class(
            [
                {
                    "address": r.mailbox,
                    "name": f"Room {r.code}",
                    "processing": {
                        # Connect for Calendars' documented set-up: AutoUpdate in the lead, AutoAccept following,
                        # the room leaves subjects alone (scenario 10 turns the rewrites on for one room), takes
                        # meetings of any length and series that reach past its booking window (Planon decides).
                        "AutomateProcessing": "AutoUpdate" if r.leads else "AutoAccept",
                        "AddOrganizerToSubject": False,
                        "DeleteSubject": False,
                        "DeleteComments": False,
                        "MaximumDurationInMinutes": 0,
                        "EnforceSchedulingHorizon": False,
                    },
                    # ... and the mailbox's zone is the Planon property's (Set-MailboxRegionalConfiguration)
                    "timeZone": "W. Europe Standard Time",
                }
                for r in rooms
            ],
            concurrency_limit=16,
            now=NOW,  # the tenant lives on the world's day: booking windows count from it
        )
        await self.sandbox.start()

    async def stop(self) -> None:
        if self.sandbox is not None:
            await self.sandbox.stop()

    def connection(self) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
        spec, secrets = self.sb.connection_spec()
        return {"graph": spec}, secrets

    async def set_rewrites(self, room: Room, *, add_organizer: bool, delete_subject: bool) -> None:
        await self.sb.admin.set_processing(
            room.mailbox, add_organizer_to_subject=add_organizer, delete_subject=delete_subject
        )

    # -- a person in Outlook -----------------------------------------------------------------------------------------
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
        return str(
            await self.sb.admin.book_in_outlook(
                organizer,
                [r.mailbox for r in rooms],
                subject,
                start,
                end,
                list(required),
                optional=list(optional),
                recurrence=graph_recurrence(rrule, start, tz) if rrule else None,
                time_zone=tz,
                organizer_name=organizer_name,
                all_day=all_day,
            )
        )

    async def edit(self, meeting: str, **changes: Any) -> None:
        body: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "rooms":
                body["rooms"] = [r.mailbox for r in value]
            elif key == "required":
                body["attendees"] = list(value)
            elif key == "rrule":
                tz = changes.get("tz", "Europe/Amsterdam")
                start = changes.get("start") or self._organizer_item(meeting).start
                body["recurrence"] = graph_recurrence(value, start, tz)
            elif key == "tz":
                body["timeZone"] = value
            else:
                body[key] = value
        await self.sb.admin.edit(meeting, **body)

    async def cancel(self, meeting: str) -> None:
        await self.sb.admin.cancel(meeting, comment="Not needed any more")

    async def move_occurrence(self, meeting: str, original: datetime, start: datetime, end: datetime) -> None:
        await self.sb.admin.edit_occurrence(meeting, original, start=start, end=end)

    async def cancel_occurrence(self, meeting: str, original: datetime) -> None:
        await self.sb.admin.cancel_occurrence(meeting, original)

    def _organizer_item(self, meeting: str) -> StoredEvent:
        _, event = self.sb.state.calendars.meeting(meeting)
        return event

    # -- what a room calendar holds ----------------------------------------------------------------------------------
    def _box_events(self, room: Room) -> list[StoredEvent]:
        return list(self.sb.state.mailboxes[room.mailbox].events.values())

    async def items(self, room: Room) -> int:
        return len(self._box_events(room))

    async def entries(self, room: Room, start: datetime, end: datetime) -> list[CalendarEntry]:
        result = []
        ours = set(self.rooms)
        for event in self._box_events(room):
            organizer, required, optional = _people(event, ours)
            response = "organizer" if event.is_organizer else event.response
            for instance in event.instances(start, end):
                result.append(
                    CalendarEntry(
                        meeting=event.ical_uid,
                        item=event.id,
                        subject=instance.subject,
                        start=instance.start,
                        end=instance.end,
                        all_day=event.all_day,
                        organizer=organizer,
                        required=required,
                        optional=optional,
                        response=response,
                        cancelled=event.is_cancelled,
                        recurring=bool(event.recurrence),
                        exception=instance.exception,
                    )
                )
        return sorted(result, key=lambda e: (e.start, e.meeting))

    async def answers(self, meeting: str) -> list[tuple[str, str, str]]:
        return [
            (m["from"], m["kind"], m.get("comment") or "")
            for m in self.sb.state.calendars.assistant.mail
            if m["iCalUId"] == meeting and m["from"] in self.rooms and m["kind"] not in ("invitation", "update")
        ]


def _people(event: StoredEvent, rooms: set[str]) -> tuple[str | None, frozenset[str], frozenset[str]]:
    """Who the meeting is for. A meeting a room organises (made in Planon) names its person in RoomSync's
    documented ``people`` property, the way Outlook shows "on behalf of"; otherwise the organizer and attendees."""
    for value in event.ext.values():
        try:
            data = json.loads(value)
        except ValueError:
            continue
        if isinstance(data, dict) and "o" in data and event.organizer_address in rooms:
            return data.get("o"), frozenset(data.get("r", [])), frozenset(data.get("p", []))
    people = [a for a in event.attendees if a.address.casefold() not in rooms and a.type != "resource"]
    required = frozenset(a.address.casefold() for a in people if a.type == "required")
    optional = frozenset(a.address.casefold() for a in people if a.type == "optional")
    organizer = event.organizer_address.casefold()
    return organizer, required - {organizer}, optional - {organizer}
