"""Child process of the engine benchmark: build two snapshots of linked pairs, time ``roomsync.engine.plan``.

A fresh process per size, so its peak RSS is the engine's (plus the snapshots it reads), not the harness's.
``python -m benchmarks.engine_worker ROOMS PER_ROOM REPEATS`` prints one JSON line.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from benchmarks.core import peak_rss_mb
from roomsync.engine import ActionKind, Policy, plan
from roomsync.model import Booking, Handle, Link, Person, Snapshot, fingerprint

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
PEOPLE = [Person(f"person{i}@bench.example", f"Person {i}") for i in range(200)]


def snapshots(rooms: int, per_room: int, policy: Policy) -> tuple[Snapshot, Snapshot, int]:
    """Linked pairs as the connectors deliver them: realistic ids (a Graph iCalUId and event id are long), one
    organizer and two attendees each, 1 % changed in Planon and another 1 % changed in the calendar."""
    window = policy.window(NOW)
    planon: list[Booking] = []
    calendar: list[Booking] = []
    changed = 0
    n = 0
    for room in range(rooms):
        code = f"B-{room:05d}"
        for index in range(per_room):
            start = NOW + timedelta(days=1 + index // 5, hours=2 * (index % 5) + 1)
            p_id = f"pln-{100000 + n}"
            c_id = f"040000008200E00074C5B7101A82E0080000000{n:072d}"
            content = Booking(
                id=p_id,
                subject=f"Meeting {room}-{index}",
                start=start,
                end=start + timedelta(hours=1),
                timezone="Europe/Amsterdam",
                organizer=PEOPLE[n % 200],
                required=frozenset({PEOPLE[(n + 1) % 200], PEOPLE[(n + 7) % 200]}),
                rooms=frozenset({code}),
                handle=Handle({code: (str(200000 + n),)}),
            )
            fp = fingerprint(content, window)
            p = content.with_link(Link(c_id, fp, 1))
            c = Booking(
                id=c_id,
                subject=content.subject,
                start=content.start,
                end=content.end,
                timezone=content.timezone,
                organizer=content.organizer,
                required=content.required,
                rooms=content.rooms,
                ical_uid=c_id,
                link=Link(p_id, fp, 1),
                handle=Handle({code: (f"AAMkAGI2TG93AAA{n:0137d}=",)}),
            )
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
        "plan_wall_s": min(walls),
        "plan_cpu_s": min(cpus),
        "rss_inputs_mb": rss_inputs,
        "rss_peak_mb": peak_rss_mb(),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
