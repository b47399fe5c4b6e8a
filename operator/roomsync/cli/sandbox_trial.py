"""``roomsync sandbox book`` and ``roomsync sandbox show``: the trial's hands and eyes on running sandboxes.

``book`` plays a person: a reservation at a Planon kiosk, or a meeting request sent to a room from the calendar app
(Outlook, Google Calendar). ``show`` prints each room on a day as the two sides hold it, side by side, the way the
people using them would see it (through the emulators' admin APIs, not through RoomSync). Both find the sandboxes
from the manifests ``roomsync sandbox`` printed: the Connections hold their URLs, the RoomSyncs their rooms.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from rich.table import Table

from roomsync.cli import output
from roomsync.cli.sync_cmd import EXIT_INVALID, EXIT_OK
from roomsync.config.bundle import Bundle, load_bundle
from roomsync.connectors.network import reason
from roomsync.model import RoomPair, Side
from roomsync.sandbox.building import AMSTERDAM, person, workday
from roomsync.sandbox.caldav import RadicaleMissing, RadicaleServer
from roomsync.sandbox.caldav.building import logins as caldav_logins
from roomsync.sandbox.caldav.people import People
from roomsync.sandbox.google.client import SandboxAdmin as GoogleAdmin
from roomsync.sandbox.google.client import SandboxError as GoogleRefused
from roomsync.sandbox.graph.client import SandboxAdmin as GraphAdmin
from roomsync.sandbox.graph.client import SandboxError as GraphRefused
from roomsync.sandbox.people import CalDavClient, CalendarApp, Entry, GoogleCalendar, Outlook, PlanonKiosk
from roomsync.sandbox.planon.client import SandboxAdmin as PlanonAdmin
from roomsync.sandbox.planon.client import SandboxRefused as PlanonRefused

HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
DEFAULT_PERSON = {"planon": "anna", "calendar": "ben"}


class TrialError(Exception):
    """The command cannot be carried out as given; the text says why and what to do."""


@dataclass(frozen=True)
class Room:
    pair: RoomPair
    connection: str  # the calendar Connection
    planon_leads: bool


@dataclass
class Sandboxes:
    """The running sandboxes, as the manifests describe them."""

    kiosk: PlanonKiosk
    #: calendar app per calendar Connection name
    apps: dict[str, CalendarApp]
    #: every RoomSync's rooms: the pair, the calendar Connection it uses, whether Planon leads
    rooms: list[Room] = field(default_factory=list)

    def find(self, name: str) -> Room:
        wanted = name.strip().casefold()
        for room in self.rooms:
            if wanted in (room.pair.planon.casefold(), room.pair.calendar.casefold()):
                return room
        known = ", ".join(room.pair.planon for room in self.rooms)
        raise TrialError(f"room {name!r} is in none of the RoomSyncs in the file; its rooms are {known}")

    async def aclose(self) -> None:
        await self.kiosk.admin.aclose()
        for app in self.apps.values():
            await app.aclose()


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def calendar_app(spec: dict[str, Any], secret: Callable[[str, str], str]) -> CalendarApp:
    """The calendar app people use with the sandbox a calendar Connection points at."""
    if "graph" in spec:
        graph = spec["graph"]
        return Outlook(GraphAdmin(origin(graph["baseUrl"]), graph.get("caBundle")))
    if "ews" in spec:  # the on-premise face of the same Exchange sandbox: people still book in Outlook
        ews = spec["ews"]
        return Outlook(GraphAdmin(origin(ews["url"]), ews.get("caBundle")))
    if "google" in spec:
        return GoogleCalendar(GoogleAdmin(origin(spec["google"]["apiEndpoint"])))
    if "caldav" in spec:
        caldav = spec["caldav"]
        ref = caldav["auth"]["basic"]["secretRef"]
        server = RadicaleServer.attach(caldav["url"], caldav_logins(secret(ref["name"], ref["key"])))
        return CalDavClient(People(server, {c["room"]: c["url"] for c in caldav["calendars"]}))
    raise TrialError(f"no sandbox plays the {', '.join(spec)} backend of these manifests")


def _secret(bundle: Bundle, namespace: str, name: str, key: str) -> str:
    return bundle.secrets[(namespace, name)][key]


def open_sandboxes(files: Sequence[str]) -> Sandboxes:
    bundle = load_bundle(files)
    if not bundle.ok or not bundle.roomsyncs:
        problems = "; ".join(str(p) for p in bundle.problems) or "no RoomSync in them"
        raise TrialError(f"these are not the manifests `roomsync sandbox` prints: {problems}")
    first = bundle.roomsyncs[0]
    planon = bundle.connections.get((first.namespace, first.planon_connection))
    if planon is None or "planon" not in planon["spec"]:
        raise TrialError(f"Connection {first.planon_connection!r} (spec.planon) is not in the files")
    apps: dict[str, CalendarApp] = {}
    rooms: list[Room] = []
    for config in bundle.roomsyncs:
        name = config.calendar_connection
        if name not in apps:
            connection = bundle.connections.get((config.namespace, name))
            if connection is None:
                raise TrialError(f"Connection {name!r} is not in the files")
            apps[name] = calendar_app(connection["spec"], functools.partial(_secret, bundle, config.namespace))
        rooms += [Room(pair, name, config.policy.leader is Side.PLANON) for pair in config.rooms]
    return Sandboxes(PlanonKiosk(PlanonAdmin(origin(planon["spec"]["planon"]["url"]))), apps, rooms)


def hours(text: str, day: date) -> tuple[datetime, datetime]:
    found = HOURS.match(text.strip())
    if not found:
        raise TrialError(f"{text!r} is not a time span like 16:00-17:00")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    try:
        start = datetime.combine(day, time(h1, m1), AMSTERDAM)
        end = datetime.combine(day, time(h2, m2), AMSTERDAM)
    except ValueError as error:
        raise TrialError(f"{text!r}: {error}") from None
    if end <= start:
        raise TrialError(f"{text!r} ends before it starts")
    return start, end


def the_day(text: str | None) -> date:
    if not text:
        return workday(1).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise TrialError(f"--day {text!r} is not a date like 2026-12-01") from None


def address(name: str) -> str:
    return name if "@" in name else person(name.lower())


async def _book(args: Any) -> str:
    day = the_day(args.day)
    start, end = hours(args.hours, day)
    sandboxes = open_sandboxes(args.files)
    try:
        found = [sandboxes.find(room) for room in args.rooms.split(",")]
        who = address(args.by or DEFAULT_PERSON[args.side])
        when = f"{start:%a %d %b %H:%M}-{end:%H:%M}"
        units = ", ".join(room.pair.planon for room in found)
        then = f"run  roomsync sync --once -f {args.files[0]}"
        if args.side == "planon":
            if args.attendees:
                raise TrialError("a Planon kiosk records no attendees: book in the calendar to invite people")
            made = await sandboxes.kiosk.book([room.pair.planon for room in found], start, end, args.subject, who)
            numbers = ", ".join(f"{r['syscode']} ({str(r['state']).removeprefix('UsrReservation')})" for r in made)
            calendars = ", ".join(room.pair.calendar for room in found)
            return (
                f"{who} booked {units} {when} {args.subject!r} at a Planon kiosk: reservation {numbers}.\n"
                f"The room calendar ({calendars}) does not have it yet: {then}"
            )
        connections = {room.connection for room in found}
        if len(connections) != 1:
            raise TrialError("those rooms are on different calendar Connections: book them one at a time")
        app = sandboxes.apps[connections.pop()]
        mailboxes = [room.pair.calendar for room in found]
        uid = await app.book(who, mailboxes, args.subject, start, end, [address(a) for a in args.attendees])
        answers = [(room, await app.answer(room.pair.calendar, uid)) for room in found]
        said = "; ".join(f"{room.pair.planon} {answer}" for room, answer in answers)
        led = [room.pair.planon for room, answer in answers if room.planon_leads and answer == "not answered yet"]
        lead = f" (Planon leads {', '.join(led)}: it decides at that sync)" if led else ""
        return (
            f"{who} sent {args.subject!r} {when} from {app.name} to {', '.join(mailboxes)}: {said}.\n"
            f"Planon does not have it yet: {then}{lead}"
        )
    finally:
        await sandboxes.aclose()


def _cell(entries: Sequence[Entry]) -> str:
    return "\n".join(
        f"{e.subject}{' (series)' if e.series else ''}\n  {e.who.split('@')[0]} - {e.state}" for e in entries
    )


async def _show(args: Any) -> list[Table]:
    day = the_day(args.day)
    sandboxes = open_sandboxes(args.files)
    try:
        chosen = [sandboxes.find(room) for room in args.rooms] if args.rooms else sandboxes.rooms
        tables = []
        for room in chosen:
            pair, app = room.pair, sandboxes.apps[room.connection]
            planon, calendar = await asyncio.gather(sandboxes.kiosk.day(pair.planon, day), app.day(pair.calendar, day))
            slots = sorted({(e.start, e.end) for e in (*planon, *calendar)})
            table = Table(title=f"{pair.planon} / {pair.calendar}", title_justify="left")
            for column in ("When", "Planon", f"Room calendar ({app.name})"):
                table.add_column(column, overflow="fold")
            for start, end in slots:
                local_start, local_end = start.astimezone(AMSTERDAM), end.astimezone(AMSTERDAM)
                label = f"{local_start:%H:%M}-{local_end:%H:%M}"
                if local_start.date() != day:
                    label = f"{local_start:%a %d %b} {label}"
                table.add_row(
                    label,
                    _cell([e for e in planon if (e.start, e.end) == (start, end)]),
                    _cell([e for e in calendar if (e.start, e.end) == (start, end)]),
                )
            if not slots:
                table.add_row("", "(nothing)", "(nothing)")
            tables.append(table)
        return tables
    finally:
        await sandboxes.aclose()


def run(args: Any) -> int:
    """``roomsync sandbox book|show``; exit 1 with one line saying what to do when it cannot."""
    try:
        if args.action == "book":
            output.console.print(asyncio.run(_book(args)))
        else:
            tables = asyncio.run(_show(args))
            output.console.print(f"{the_day(args.day):%A %d %B %Y}, Amsterdam time")
            for table in tables:
                output.console.print(table)
    except (TrialError, RadicaleMissing) as error:
        output.errors.print(f"roomsync sandbox {args.action}: {error}")
        return EXIT_INVALID
    except (PlanonRefused, GraphRefused, GoogleRefused) as refused:
        output.errors.print(f"roomsync sandbox {args.action}: the sandbox refused it: {refused}")
        return EXIT_INVALID
    except (aiohttp.ClientError, OSError) as error:
        output.errors.print(
            f"roomsync sandbox {args.action}: the sandbox does not answer ({reason(error)}): is `roomsync sandbox` "
            f"still running? It takes new ports each time it starts: save its manifests to {args.files[0]} again"
        )
        return EXIT_INVALID
    return EXIT_OK
