"""``roomsync demo``: the whole product on the embedded sandbox, in under 30 seconds, with no network.

It starts the Planon and Graph emulators in-process, seeds the demo building (:mod:`roomsync.sandbox.building`)
with a day of bookings made by people on both sides, and then runs the operator's own cycle
(:class:`roomsync.sync.runner.RoomSyncRunner`, the code the kopf handlers call) until both sides agree. It prints
what each room held before and after, every action with its reason, and the RoomSync status as
``kubectl get roomsync -o yaml`` shows it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.rule import Rule

from roomsync.cli import output
from roomsync.cli.sandbox_cmd import Sandboxes, running_sandboxes
from roomsync.cli.sync_cmd import open_runners
from roomsync.config.bundle import Bundle, fill
from roomsync.config.manifests import Document
from roomsync.model import Booking, Side
from roomsync.sandbox.building import CALENDAR_MEETINGS, KIOSK_BOOKINGS, ROOMS, workday
from roomsync.sandbox.people import Outlook, PlanonKiosk, book_the_day
from roomsync.sync.cycle import CycleResult
from roomsync.sync.runner import ClientPool, RoomSyncRunner
from roomsync.sync.status import cycle_status

MAX_CYCLES = 4


@dataclass
class DemoRun:
    runners: list[RoomSyncRunner]
    results: dict[str, list[CycleResult]] = field(default_factory=dict)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)


async def people_book(boxes: Sandboxes, day: datetime) -> list[str]:
    """A morning's worth of bookings, made as people make them (the building's day); returns what happened."""
    return await book_the_day(
        PlanonKiosk(boxes.planon.admin),
        Outlook(boxes.graph.admin),
        day,
        KIOSK_BOOKINGS,
        CALENDAR_MEETINGS,
        {r.code: r.mailbox for r in ROOMS},
    )


async def room_tables(runners: list[RoomSyncRunner], now: datetime, title: str) -> None:
    for runner in runners:
        window = runner.config.policy.window(now)
        planon, calendar = await asyncio.gather(
            runner.stores[Side.PLANON].read(window, full=True), runner.stores[Side.CALENDAR].read(window, full=True)
        )
        output.console.print(
            output.bookings_table(f"{title} - {runner.config.name} - Planon", _by_room(planon.bookings))
        )
        output.console.print(
            output.bookings_table(f"{title} - {runner.config.name} - room calendars", _by_room(calendar.bookings))
        )


def _by_room(bookings: tuple[Booking, ...]) -> list[tuple[str, Booking]]:
    rows = [(room, b) for b in bookings if not b.cancelled for room in sorted(b.rooms)]
    return sorted(rows, key=lambda row: (row[0], row[1].start))


async def sync_until_agreed(run: DemoRun) -> None:
    """The operator's loop, with the interval squeezed to nothing: cycle until a cycle plans no change."""
    for number in range(1, MAX_CYCLES + 1):
        now = datetime.now(UTC)
        results = await asyncio.gather(*(r.cycle(now) for r in run.runners))
        changed = False
        for runner, result in zip(run.runners, results, strict=True):
            run.results.setdefault(runner.config.name, []).append(result)
            run.statuses[runner.config.name] = cycle_status(
                run.statuses.get(runner.config.name), result, now, runner.config.generation
            )
            if result.plan is not None and result.plan.actions:
                changed = True
                output.console.print(
                    output.actions_table(f"cycle {number} - {runner.config.name}", result.plan.actions)
                )
            output.refusals(result)
            for outcome in result.report.failed if result.report else []:
                if outcome.reason != "BookingRefused":
                    output.console.print(f"  [red]failed[/red] {outcome.action.describe()}: {outcome.error}")
        if not changed:
            output.console.print(f"cycle {number}: both sides agree - nothing to do (steady state)")
            return


async def demo(json_output: bool) -> int:
    clock = time.perf_counter()
    async with running_sandboxes() as boxes:
        manifests = boxes.manifests()
        bundle = fill(Bundle(environ={}), [Document("demo", i, d) for i, d in enumerate(manifests)])
        if not bundle.ok:
            output.problems_table(bundle.problems)
            return 1
        pool = ClientPool()
        try:
            runners, problems = await open_runners(bundle, pool, allow_mass_delete=False)
            if problems:
                for problem in problems:
                    output.errors.print(problem)
                return 1
            run = DemoRun(runners)
            day = workday(1)
            output.console.print(Rule(f"RoomSync demo - Amsterdam HQ, {day:%A %d %B %Y}"))
            for line in await people_book(boxes, day):
                output.console.print(f"  {line}")
            await room_tables(runners, datetime.now(UTC), "Before")
            output.console.print(Rule("Sync (the operator's cycle)"))
            await sync_until_agreed(run)
            output.console.print(Rule("People change their minds"))
            await people_change(boxes)
            await sync_until_agreed(run)
            await room_tables(runners, datetime.now(UTC), "After")
            output.console.print(Rule("kubectl get roomsync -n facilities -o yaml"))
            by_name = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "RoomSync"}
            objects = [{**by_name[r.config.name], "status": run.statuses[r.config.name]} for r in runners]
            if json_output:
                output.emit_json(objects)
            else:
                output.emit_yaml({"apiVersion": "v1", "kind": "List", "items": objects})
            seconds = time.perf_counter() - clock
            output.console.print(Rule(f"done in {seconds:.1f} s - next: roomsync sandbox, docs/architecture.md"))
            ok = all(results[-1].ok or results[-1].reason == "ActionsFailed" for results in run.results.values())
            return 0 if ok else 3
        finally:
            await pool.aclose()


async def people_change(boxes: Sandboxes) -> None:
    kiosk, outlook = boxes.planon.admin, boxes.graph.admin
    sprint = next(r for r in await kiosk.reservations("AMS-1.01") if "Sprint" in str(r.get("description")))
    await kiosk.edit(
        int(sprint["syscode"]),
        subject="Sprint planning (moved to 10:00)",
        start=_shift(sprint, "start", 1),
        end=_shift(sprint, "end", 1),
    )
    output.console.print("  Planon kiosk: Anna moves 'Sprint planning' one hour later")
    events = await outlook.room_events(next(r.mailbox for r in ROOMS if r.code == "AMS-2.02"))
    design = next(e for e in events if "Design review" in e.get("subject", ""))
    await outlook.cancel(design["iCalUId"], comment="Postponed")
    output.console.print("  Outlook: Ben cancels 'Design review'")


def _shift(reservation: dict[str, Any], which: str, hours: int) -> datetime:
    return datetime.fromisoformat(reservation[which]) + timedelta(hours=hours)


def run_demo(*, json_output: bool = False) -> int:
    return asyncio.run(demo(json_output))
