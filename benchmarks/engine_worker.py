"""Child process of the engine benchmark: build two snapshots of linked pairs, time ``roomsync.engine.plan``.

A fresh process per size, so its peak RSS is the engine's (plus the snapshots it reads), not the harness's.
``python -m benchmarks.engine_worker ROOMS PER_ROOM REPEATS`` prints one JSON line.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
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


def main(rooms: int, per_room: int, repeats: int) -> dict[str, object]:
    policy = Policy(window_future=timedelta(days=90))
    clock = time.perf_counter()
    planon, calendar, changed = snapshots(rooms, per_room, policy)
    gc.collect()
    build = time.perf_counter() - clock
    rss_inputs = peak_rss_mb()
    walls, cpus = [], []
    actions = 0
    updates = 0
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = plan(policy, planon, calendar, NOW)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        actions, updates = len(result.actions), result.count(ActionKind.UPDATE)
        del result
    return {
        "pairs": rooms * per_room,
        "rooms": rooms,
        "changed": changed,
        "actions": actions,
        "updates": updates,
        "build_s": build,
        "plan_wall_s": statistics.median(walls),
        "plan_cpu_s": statistics.median(cpus),
        "plan_cpu_min_s": min(cpus),
        "plan_cpu_max_s": max(cpus),
        "rss_inputs_mb": rss_inputs,
        "rss_peak_mb": peak_rss_mb(),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
