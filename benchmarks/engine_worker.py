"""Child process of the engine benchmark: build two snapshots of linked pairs, time ``roomsync.engine.plan``.

A fresh process per size, so its peak RSS is the engine's (plus the snapshots it reads), not the harness's.
``python -m benchmarks.engine_worker ROOMS PER_ROOM REPEATS [BASELINE_PAIRS]`` prints one JSON line when the
snapshots are built and one after every plan, each with every figure so far (the last line is the result): a long
run (1M pairs) that is stopped or dies still leaves what it measured. With ``BASELINE_PAIRS`` the first that many
pairs are planned alone before each plan of the whole, for the growth per pair measured at the same moment.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from benchmarks.core import peak_rss_mb
from roomsync.engine import ActionKind, Policy, plan
from roomsync.model import Booking, Handle, Link, Person, Snapshot, fingerprint

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
PEOPLE = [Person(f"person{i}@bench.example", f"Person {i}") for i in range(200)]


def _own(text: str) -> str:
    """A string object of this side's own, as a connector parsing its own JSON makes (no sharing across sides)."""
    return text.encode().decode()


def _person(index: int) -> Person:
    return Person(_own(f"person{index}@bench.example"), _own(f"Person {index}"))


def snapshots(rooms: int, per_room: int, policy: Policy) -> tuple[Snapshot, Snapshot, int]:
    """Linked pairs shaped as the connectors deliver them: each side parses its own objects (subjects, people,
    ids, room codes are separate objects on each side), realistic ids (a Graph iCalUId and event id are long, with
    an etag), a Planon reservation syscode and change time, one organizer and two attendees each; 1 % changed in
    Planon and another 1 % changed in the calendar."""
    window = policy.window(NOW)
    planon: list[Booking] = []
    calendar: list[Booking] = []
    changed = 0
    n = 0
    for room in range(rooms):
        for index in range(per_room):
            start = NOW + timedelta(days=1 + index // 5, hours=2 * (index % 5) + 1)
            subject = f"Meeting {room}-{index}"
            p_id = f"pln-{100000 + n}"
            c_id = f"040000008200E00074C5B7101A82E0080000000{n:072d}"
            event_id = f"AAMkAGI2TG93AAA{n:0137d}="
            p = Booking(
                id=p_id,
                subject=_own(subject),
                start=start,
                end=start + timedelta(hours=1),
                timezone="Europe/Amsterdam",
                organizer=_person(n % 200),
                required=frozenset({_person((n + 1) % 200), _person((n + 7) % 200)}),
                rooms=frozenset({_own(f"B-{room:05d}")}),
                handle=Handle({_own(f"B-{room:05d}"): (str(200000 + n),)}, {str(200000 + n): "2026-03-01T08:00:00"}),
            )
            fp = fingerprint(p, window)
            c = Booking(
                id=c_id,
                subject=_own(subject),
                start=start,
                end=start + timedelta(hours=1),
                timezone="Europe/Amsterdam",
                organizer=_person(n % 200),
                required=frozenset({_person((n + 1) % 200), _person((n + 7) % 200)}),
                rooms=frozenset({_own(f"B-{room:05d}")}),
                ical_uid=c_id,
                link=Link(_own(p_id), fp, 1),
                handle=Handle({_own(f"B-{room:05d}"): (event_id,)}, {event_id: f'W/"DwAAABYAAAA{n:010d}"'}),
            )
            p = p.with_link(Link(_own(c_id), fp, 1))
            if n % 100 == 0:
                p = replace(p, subject=p.subject + " (moved)")
                changed += 1
            elif n % 100 == 50:
                c = replace(c, subject=c.subject + " (renamed)")
                changed += 1
            planon.append(p)
            calendar.append(c)
            n += 1
    return Snapshot(tuple(planon)), Snapshot(tuple(calendar)), changed


def _report(figures: dict[str, object]) -> None:
    print(json.dumps(figures), flush=True)


def main(
    rooms: int,
    per_room: int,
    repeats: int,
    baseline_pairs: int = 0,
    report: Callable[[dict[str, object]], None] = _report,
) -> dict[str, object]:
    policy = Policy(window_future=timedelta(days=90))
    clock, cpu_clock = time.perf_counter(), time.process_time()
    # The cycle collector is kept out of the build (its passes over a growing heap of a million bookings cost more
    # than the build itself); the data is the same. plan() pauses it too, and a real cycle's snapshots are not built
    # in one go.
    gc.disable()
    try:
        planon, calendar, changed = snapshots(rooms, per_room, policy)
    finally:
        gc.enable()
    gc.collect()
    figures: dict[str, object] = {
        "pairs": rooms * per_room,
        "rooms": rooms,
        "changed": changed,
        "build_s": time.perf_counter() - clock,
        "build_cpu_s": time.process_time() - cpu_clock,
        "rss_inputs_mb": peak_rss_mb(),
        "repeats_done": 0,
    }
    report(figures)
    walls: list[float] = []
    cpus: list[float] = []
    # the first ``baseline_pairs`` pairs (their own rooms) planned alone, just before each plan of the whole: the
    # growth per pair is then measured on the same machine at the same moment (a shared VM's CPU time varies)
    part = (Snapshot(planon.bookings[:baseline_pairs]), Snapshot(calendar.bookings[:baseline_pairs]))
    part_cpus: list[float] = []
    for _ in range(repeats):
        if baseline_pairs:
            cpu = time.process_time()
            plan(policy, *part, NOW)
            part_cpus.append(time.process_time() - cpu)
            figures.update({"baseline_pairs": baseline_pairs, "baseline_cpu_s": statistics.median(part_cpus)})
        wall, cpu = time.perf_counter(), time.process_time()
        result = plan(policy, planon, calendar, NOW)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        figures.update(
            {
                "actions": len(result.actions),
                "updates": result.count(ActionKind.UPDATE),
                "repeats_done": len(cpus),
                "plan_wall_s": statistics.median(walls),
                "plan_cpu_s": statistics.median(cpus),
                "plan_cpu_min_s": min(cpus),
                "plan_cpu_max_s": max(cpus),
                "plan_cpu_each_s": [round(c, 4) for c in cpus],
                "rss_peak_mb": peak_rss_mb(),
            }
        )
        del result
        report(figures)
    return figures


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:5]))
