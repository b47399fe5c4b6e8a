"""What the CLI prints: rich tables for people, JSON for machines. Never a credential."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from roomsync.config.bundle import Problem
from roomsync.engine import Action
from roomsync.model import Booking, Response, zone
from roomsync.sync.cycle import CycleResult

console = Console(highlight=False, soft_wrap=False, width=160 if not sys.stdout.isatty() else None)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(data: Any) -> None:
    """Written while it is encoded, never held as one string: a first sync's document lists every action (20,000
    at 1,000 rooms x 20), and its text was the operator process's peak memory (docs/performance.md, section 6)."""
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()


def emit_yaml(data: Any) -> None:
    print(yaml.safe_dump(data, sort_keys=False, default_flow_style=False), end="")


def problems_table(problems: Sequence[Problem]) -> None:
    for problem in problems:
        errors.print(f"[red]error[/red] {problem}", markup=True, highlight=False)
    errors.print(f"{len(problems)} error(s); nothing was written.")


def action_row(action: Action) -> list[str]:
    booking = action.desired or action.target
    when = span(booking) if booking is not None else ""
    return [action.side.value, action.kind.value, action.subject, when, ", ".join(sorted(action.rooms)), action.reason]


def span(booking: Booking) -> str:
    """``Tue 04 Mar 09:00-10:00 CET`` in the booking's own zone (``(series)`` for a recurring one)."""
    local_zone = zone(booking.timezone)
    start, end = booking.start.astimezone(local_zone), booking.end.astimezone(local_zone)
    if booking.all_day:
        last = (end - timedelta(days=1)).date()
        text = f"{start:%a %d %b}" + ("" if last == start.date() else f"-{last:%a %d %b}") + " (all day)"
    elif start.date() == end.date():
        text = f"{start:%a %d %b %H:%M}-{end:%H:%M} {start:%Z}"
    else:
        text = f"{start:%a %d %b %H:%M}-{end:%a %d %b %H:%M} {start:%Z}"
    return text + (" (series)" if booking.recurrence else "")


def actions_table(title: str, actions: Iterable[Action]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("Side", "Action", "Subject", "When", "Rooms", "Reason"):
        table.add_column(column, overflow="fold")
    for action in actions:
        table.add_row(*action_row(action))
    return table


def result_json(result: CycleResult) -> dict[str, Any]:
    plan = result.plan
    return {
        "roomsync": result.name,
        "reason": result.reason,
        "message": result.message,
        "full": result.full,
        "dryRun": result.dry_run,
        "durationSeconds": round(result.duration, 3),
        "conflicts": plan.conflicts if plan else 0,
        "actions": [action_json(a) for a in (plan.actions if plan else ())],
        "notes": [n.message for n in (plan.notes if plan else ())],
        "failed": [
            {"action": o.action.describe(), "error": o.error} for o in (result.report.failed if result.report else [])
        ],
        "counters": dict(result.counters),
        "rooms": [
            {
                "planon": r.planon,
                "calendar": r.calendar,
                "bookings": r.bookings,
                "pending": r.pending,
                "lastError": r.last_error,
            }
            for r in result.rooms
        ],
    }


def action_json(action: Action) -> dict[str, Any]:
    booking = action.desired or action.target
    return {
        "side": action.side.value,
        "action": action.kind.value,
        "subject": action.subject,
        "start": booking.start.isoformat() if booking else None,
        "end": booking.end.isoformat() if booking else None,
        "rooms": sorted(action.rooms),
        "reason": action.reason,
    }


def result_summary(result: CycleResult, when: datetime | None = None) -> None:
    """One cycle for a person; ``when`` stamps the line (a continuous ``sync`` prints one per cycle)."""
    plan = result.plan
    reason, colour = result.reason, "green" if result.ok else "red"
    if result.ok and result.dry_run and plan is not None and plan.actions:
        reason, colour = "ChangesPending", "yellow"  # not "Synced": the sides differ until a sync writes the plan
    stamp = f"{when.astimezone():%Y-%m-%d %H:%M:%S} " if when is not None else ""
    console.print(f"{stamp}[bold]{result.name}[/bold]: [{colour}]{reason}[/{colour}] - {result.message}")
    if plan is not None and plan.actions:
        title = "Planned (dry run, nothing written)" if result.dry_run else "Actions"
        console.print(actions_table(title, plan.actions))
    if plan is not None:
        for note in plan.notes:
            console.print(f"  note: {note.message}")
    refusals(result)
    if result.report is not None:
        for outcome in result.report.failed:
            if outcome.reason != "BookingRefused":
                console.print(f"  [red]failed[/red]: {outcome.action.describe()}: {outcome.error}")


def refusals(result: CycleResult) -> None:
    """Writes a side refused for a reason of its own (Planon's rules): what happened to the request, and why."""
    for outcome in result.report.outcomes if result.report else []:
        if outcome.reason == "BookingRefused":
            answer = "declined in the calendar" if outcome.response is Response.DECLINE else "reported"
            side = outcome.action.side.value
            console.print(f"  [yellow]{side} refused[/yellow] {outcome.action.subject!r} ({answer}): {outcome.error}")


def bookings_table(title: str, rows: Iterable[tuple[str, Booking]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("Room", "When", "Subject", "Organizer", "Status"):
        table.add_column(column, overflow="fold")
    for room, b in rows:
        when = span(b)
        status = b.status.value + (" (request)" if b.awaiting_response else "")
        table.add_row(room, when, b.subject, b.organizer.email if b.organizer else "", status)
    return table
