"""``roomsync sandbox``: keep the Planon and calendar emulators running, seeded with the demo building and its day.

The Exchange sandbox has two faces over one mailbox store: Graph (Exchange Online, floors 1 and 2) and EWS (the
on-premise fourth floor, reached with an NTLM service account that impersonates its rooms).

People have booked a day of meetings on both sides when it starts (the day ``roomsync demo`` tells, not yet synced),
so ``roomsync plan``/``sync`` against the manifests it prints have something to carry across; it then says how to
add a booking yourself (``roomsync sandbox book``), how to see both sides (``roomsync sandbox show``) and where each
emulator's admin page is. ``--calendar google`` runs a Google Workspace floor instead of Exchange Online,
``--calendar caldav`` a real Radicale with the building's room calendars (``pip install 'roomsync[caldav-sandbox]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import stat
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import yaml

from roomsync.cli import output
from roomsync.cli.sync_cmd import EXIT_INVALID, EXIT_TERMINATED
from roomsync.sandbox import building, google_floor
from roomsync.sandbox.building import CalendarMeeting, KioskBooking, Room, workday
from roomsync.sandbox.caldav import RadicaleMissing, RadicaleServer
from roomsync.sandbox.caldav.building import start_building
from roomsync.sandbox.caldav.people import People
from roomsync.sandbox.ews import ExchangeSandbox
from roomsync.sandbox.google import GoogleSandbox
from roomsync.sandbox.people import CalDavClient, CalendarApp, GoogleCalendar, Outlook, PlanonKiosk, book_the_day
from roomsync.sandbox.planon import PlanonSandbox


@dataclass(frozen=True)
class Trial:
    """What a person needs to try the sandboxes: who books there, the building's day, and where things are."""

    kiosk: PlanonKiosk
    app: CalendarApp
    rooms: Sequence[Room]
    bookings: Sequence[KioskBooking]
    meetings: Sequence[CalendarMeeting]
    #: (what, API URL, admin page URL or "" when another endpoint's page covers it, note)
    endpoints: Sequence[tuple[str, str, str, str]]
    #: a free room and hour for a Planon booking and for a calendar meeting, for the printed examples
    examples: tuple[tuple[str, str], tuple[str, str]]

    async def book_the_day(self, day: datetime) -> list[str]:
        mailboxes = {room.code: room.mailbox for room in self.rooms}
        return await book_the_day(self.kiosk, self.app, day, self.bookings, self.meetings, mailboxes)


class Running(Protocol):
    """The emulators of one ``roomsync sandbox`` run (Exchange or Google calendar side)."""

    def manifests(self) -> list[dict[str, Any]]: ...

    def trial(self) -> Trial: ...


@dataclass
class Sandboxes:
    planon: PlanonSandbox
    graph: ExchangeSandbox  # Exchange Online's face (Graph) and the on-premise floor's (EWS): one mailbox store

    def manifests(self) -> list[dict[str, Any]]:
        graph_spec, graph_secrets = self.graph.connection_spec()
        ews_spec, ews_secrets = self.graph.ews_connection_spec(auth="ntlm")
        secrets = {**self.planon.demo_secrets(), **graph_secrets, **ews_secrets}
        return building.manifests(self.planon.connection_spec(), graph_spec, secrets, ews_spec=ews_spec)

    def trial(self) -> Trial:
        return Trial(
            PlanonKiosk(self.planon.admin),
            Outlook(self.graph.admin),
            building.ROOMS,
            building.KIOSK_BOOKINGS,
            building.CALENDAR_MEETINGS,
            [
                ("Planon REST API", self.planon.url, f"{self.planon.root_url}/_admin", ""),
                (
                    "Microsoft Graph",
                    self.graph.base_url,
                    f"{self.graph.origin}/_admin",
                    "a self-signed certificate: the browser warns; its CA is the manifests' caBundle",
                ),
                (
                    "Exchange EWS",
                    self.graph.ews_url,
                    "",
                    "on-premise floor 4, NTLM; the same Exchange as Graph's, its admin page covers both",
                ),
            ],
            (("AMS-1.01", "16:00-17:00"), ("AMS-2.02", "15:00-16:00")),
        )


@contextlib.asynccontextmanager
async def running_sandboxes(
    host: str = "127.0.0.1", planon_port: int = 0, graph_port: int = 0
) -> AsyncIterator[Sandboxes]:
    async with (
        PlanonSandbox(seed=building.planon_seed(), host=host, port=planon_port) as planon,
        ExchangeSandbox(building.graph_rooms(), host=host, port=graph_port) as graph,
    ):
        yield Sandboxes(planon, graph)


@dataclass
class GoogleSandboxes:
    """Planon and a Google Workspace domain holding the demo building's Google floor."""

    planon: PlanonSandbox
    google: GoogleSandbox

    def manifests(self) -> list[dict[str, Any]]:
        google_spec, google_secrets = self.google.connection_spec()
        secrets = {**self.planon.demo_secrets(), **google_secrets}
        return google_floor.manifests(self.planon.connection_spec(), google_spec, secrets)

    def trial(self) -> Trial:
        return Trial(
            PlanonKiosk(self.planon.admin),
            GoogleCalendar(self.google.admin),
            google_floor.FLOOR,
            google_floor.KIOSK_BOOKINGS,
            google_floor.CALENDAR_MEETINGS,
            [
                ("Planon REST API", self.planon.url, f"{self.planon.root_url}/_admin", ""),
                ("Google Workspace", f"{self.google.origin}/calendar/v3", f"{self.google.origin}/_admin", ""),
            ],
            (("AMS-3.01", "16:00-17:00"), ("AMS-3.02", "15:00-16:00")),
        )


@contextlib.asynccontextmanager
async def running_google_sandboxes(
    host: str = "127.0.0.1", planon_port: int = 0, google_port: int = 0
) -> AsyncIterator[GoogleSandboxes]:
    async with (
        PlanonSandbox(seed=google_floor.floor_planon_seed(), host=host, port=planon_port) as planon,
        GoogleSandbox(google_floor.google_rooms(), domain=building.DOMAIN, host=host, port=google_port) as google,
    ):
        yield GoogleSandboxes(planon, google)


@dataclass
class CalDavSandboxes:
    """Planon's emulator and a real Radicale holding the building's room calendars."""

    planon: PlanonSandbox
    radicale: RadicaleServer
    spec: dict[str, Any]
    secrets: dict[tuple[str, str], str]

    def manifests(self) -> list[dict[str, Any]]:
        secrets = {**self.planon.demo_secrets(), **self.secrets}
        return building.manifests(self.planon.connection_spec(), {}, secrets, calendar=("rooms-caldav", self.spec))

    def trial(self) -> Trial:
        calendars = {c["room"]: c["url"] for c in self.spec["caldav"]["calendars"]}
        people = ", ".join(f"{u}/{pw}" for u, pw in self.radicale.users.items() if u != self.radicale.service_account)
        return Trial(
            PlanonKiosk(self.planon.admin),
            CalDavClient(People(self.radicale, calendars)),
            building.ONLINE_ROOMS,
            *building.online_day(),
            [
                ("Planon REST API", self.planon.url, f"{self.planon.root_url}/_admin", ""),
                (
                    "CalDAV (Radicale)",
                    f"{self.radicale.url}{self.radicale.service_account}/",
                    f"{self.radicale.url}.web",
                    f"Radicale's own web page; people book from any CalDAV client with their own login: {people}",
                ),
            ],
            (("AMS-1.01", "16:00-17:00"), ("AMS-2.02", "15:00-16:00")),
        )


@contextlib.asynccontextmanager
async def running_caldav_sandboxes(
    host: str = "127.0.0.1", planon_port: int = 0, caldav_port: int = 0
) -> AsyncIterator[CalDavSandboxes]:
    radicale, spec, secrets = await asyncio.to_thread(start_building, host, caldav_port)
    try:
        async with PlanonSandbox(seed=building.planon_seed(), host=host, port=planon_port) as planon:
            yield CalDavSandboxes(planon, radicale, spec, secrets)
    finally:
        radicale.stop()


def saved_as() -> str | None:
    """The file stdout is redirected to (``roomsync sandbox > sandbox.yaml``), so the printed commands name it as the
    person typed it; None when stdout is a terminal or a pipe."""
    try:
        if not stat.S_ISREG(os.fstat(sys.stdout.fileno()).st_mode):
            return None
        path = Path(os.readlink(f"/proc/self/fd/{sys.stdout.fileno()}"))
    except (OSError, ValueError):  # no /proc (macOS), or stdout replaced by an object without a descriptor
        return None
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def introduce(trial: Trial, day: datetime, story: Sequence[str], saved: str | None = None) -> None:
    """What a person reads on stderr while the manifests go to stdout: every command in it works as printed."""
    say = output.errors.print
    file = shlex.quote(saved or "sandbox.yaml")
    say(f"[bold]RoomSync sandbox[/bold] - Amsterdam HQ. People booked {day:%A %d %B %Y} on both sides (not synced):")
    for line in story:
        say(f"  {line}")
    for what, api, admin, note in trial.endpoints:
        if admin:
            say(f"{what + ':':17} {api}\n{'':17} admin page: {admin}" + (f" ({note})" if note else ""))
        else:
            say(f"{what + ':':17} {api}" + (f"\n{'':17} ({note})" if note else ""))
    (planon_room, planon_hours), (calendar_room, calendar_hours) = trial.examples
    if saved:
        say(f"The manifests are in {file}. Try in another terminal:")
    else:
        say("The manifests follow on stdout: save them (roomsync sandbox > sandbox.yaml) and try in another terminal:")
    say(f"  roomsync plan -f {file}              # what a sync would change (exit code 2: changes pending)")
    say(f"  roomsync sync --once -f {file}       # one cycle: each side gets the other's bookings")
    say(f"  roomsync sandbox show -f {file}      # every room on that day, as Planon and the calendar show it")
    say("Then book one yourself on each side, sync again and show both rooms:")
    say(f'  roomsync sandbox book -f {file} planon {planon_room} {planon_hours} "Retro"          # Anna, Planon kiosk')
    say(
        f'  roomsync sandbox book -f {file} calendar {calendar_room} {calendar_hours} "Coffee chat"  '
        f"# Ben, {trial.app.name}"
    )
    say(f"  roomsync sync --once -f {file}")
    say(f"  roomsync sandbox show -f {file} {planon_room} {calendar_room}")
    say("Ctrl-C stops the sandboxes (they keep everything in memory).")


def run_sandbox(host: str, planon_port: int, calendar_port: int, *, calendar: str = "graph") -> int:
    """Until Ctrl-C (exit 130) or SIGTERM (exit 143); either way the emulators and Radicale are stopped."""

    async def serve() -> int:
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stopped.set)
        opening: dict[str, Callable[[str, int, int], contextlib.AbstractAsyncContextManager[Running]]] = {
            "graph": running_sandboxes,
            "google": running_google_sandboxes,
            "caldav": running_caldav_sandboxes,
        }
        async with opening[calendar](host, planon_port, calendar_port) as boxes:
            trial = boxes.trial()
            day = workday(1)
            story = await trial.book_the_day(day)
            introduce(trial, day, story, saved_as())
            print(yaml.safe_dump_all(boxes.manifests(), sort_keys=False), end="", flush=True)
            await stopped.wait()
        output.errors.print("stopped (SIGTERM)")
        return EXIT_TERMINATED

    try:
        return asyncio.run(serve())
    except RadicaleMissing as missing:
        output.errors.print(f"[red]error[/red] {missing}")
        return EXIT_INVALID
