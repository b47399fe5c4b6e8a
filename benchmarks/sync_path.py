"""2-4 on one synced world: initial sync (4), steady state against full reads (2), change propagation (3).

A world is ``rooms`` rooms in the Planon and Graph sandboxes (own process, 20 ms per request, 4 concurrent requests
per mailbox), one RoomSync over them opened as ``roomsync sync`` opens it, and ``per_room`` reservations made in
Planon before the first cycle. Every figure is counted by the sandboxes, not by the code under test.
"""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta

from benchmarks.core import Context, Result
from benchmarks.sandboxes import PEOPLE, Cycle, World, room_code, room_mailbox, slot
from roomsync.model import Side
from roomsync.sync.apply import DEFAULT_CONCURRENCY

LATENCY = 0.020
GRAPH_CONCURRENCY = 4


async def run(ctx: Context) -> list[Result]:
    rooms, per_room = (20, 10) if ctx.quick else (200, 50)
    async with World(rooms, latency=LATENCY, leader="Planon", processing="AutoUpdate") as world:
        ctx.say(f"initial sync: {rooms} rooms x {per_room} from Planon into empty calendars")
        await world.seed_planon(per_room)
        initial = await _initial(world, per_room)
        ctx.step()
        ctx.say("steady state: incremental cycles against full-window reads")
        steady = await _steady(world, repeats=2 if ctx.quick else 3)
        ctx.step()
        ctx.say("change propagation: k changes each way, leader-mode requests")
        propagation = await _propagation(world, k=5 if ctx.quick else 20)
        ctx.step()
    return [initial, steady, propagation]


async def _initial(world: World, per_room: int) -> Result:
    result = Result("initial", "4. Initial sync from Planon into empty calendars")
    cycles = await world.sync_until_agreed()
    first = cycles[0]
    bookings = world.rooms * per_room
    assert world.runner is not None
    planon_limit = int(world.runner.stores[Side.PLANON].settings.max_concurrent_requests)  # type: ignore[attr-defined]
    graph_usable = min(DEFAULT_CONCURRENCY, GRAPH_CONCURRENCY * world.rooms)
    graph_bound = LATENCY * first.traffic.graph_total / graph_usable
    planon_bound = LATENCY * first.traffic.planon_total / planon_limit
    bound = max(graph_bound, planon_bound)  # the two sides work at the same time; the slower one bounds the cycle
    result.figures.update(
        {
            "rooms x bookings": f"{world.rooms} x {per_room}",
            "latency per request": f"{LATENCY * 1000:.0f} ms",
            "Graph requests": first.traffic.graph_total,
            "Graph creates": first.traffic.graph_by(method="POST", operation="events.create"),
            "Planon requests": first.traffic.planon_total,
            "Planon writes (link back)": first.traffic.planon_writes,
            "429 answers": first.traffic.graph_throttled,
            "usable concurrency, Graph": f"min(apply {DEFAULT_CONCURRENCY}, 4 x {world.rooms} rooms) = {graph_usable}",
            "usable concurrency, Planon": f"{planon_limit} (the connector's maxConcurrentRequests default)",
            "bound, Graph = latency x requests / concurrency": f"{graph_bound:.2f} s",
            "bound, Planon = latency x requests / concurrency": f"{planon_bound:.2f} s",
            "bound (the larger)": f"{bound:.2f} s",
            "wall time": f"{first.wall:.2f} s",
            "CPU time (operator process)": f"{first.cpu:.2f} s",
            "CPU time (sandbox process)": f"{first.sandbox_cpu:.2f} s",
            "Planon operations": dict(sorted(first.traffic.planon.items())),
            "Graph operations": first.traffic.graph_operations(),
            "ratio wall / bound": round(first.wall / bound, 2),
            "cycles until agreed": len(cycles),
        }
    )
    result.check(
        "every reservation created in the calendar", first.traffic.graph_by(operation="events.create"), "==", bookings
    )
    result.check("wall time / bound", first.wall / bound, "<=", 2.0)
    result.check(
        "writes in the cycle after", sum(c.traffic.graph_writes + c.traffic.planon_writes for c in cycles[1:]), "==", 0
    )
    if first.cpu > bound:
        result.notes.append(
            f"the operator process used {first.cpu:.1f} s of CPU, more than the I/O bound ({bound:.1f} s): "
            "at this latency the initial sync is CPU-bound, not I/O-bound"
        )
    return result


async def _steady(world: World, repeats: int) -> Result:
    result = Result("steady", "2. Steady state, nothing changed: incremental (delta) cycle vs full-window reads")
    incremental = [await world.cycle() for _ in range(repeats)]
    full = [await world.cycle(full=True) for _ in range(repeats)]
    inc, base = incremental[-1], full[-1]
    inc_wall = statistics.median(c.wall for c in incremental)
    full_wall = statistics.median(c.wall for c in full)
    inc_cpu = statistics.median(c.cpu for c in incremental)
    full_cpu = statistics.median(c.cpu for c in full)
    rooms = world.rooms

    def row(name: str, cycle: Cycle, wall: float, cpu: float) -> dict[str, object]:
        t = cycle.traffic
        return {
            "cycle": name,
            "Graph requests": t.graph_total,
            "Graph / room": round(t.graph_total / rooms, 2),
            "Planon requests": t.planon_total,
            "writes": t.graph_writes + t.planon_writes,
            "wall s (median)": round(wall, 3),
            "CPU s (median)": round(cpu, 3),
            "Graph operations": ", ".join(f"{k}: {v}" for k, v in sorted(t.graph_operations().items())),
        }

    result.table = [
        row("incremental (delta)", inc, inc_wall, inc_cpu),
        row("full-window read (baseline)", base, full_wall, full_cpu),
    ]
    requests_inc = inc.traffic.graph_total + inc.traffic.planon_total
    requests_full = base.traffic.graph_total + base.traffic.planon_total
    result.figures.update(
        {
            "rooms": rooms,
            "bookings (Planon side)": len(inc.result.snapshots[Side.PLANON].bookings),
            "requests full / incremental": round(requests_full / max(1, requests_inc), 1),
            "wall time full / incremental": round(full_wall / inc_wall, 1),
            "CPU s per incremental cycle per 100 rooms": round(inc_cpu / rooms * 100, 3),
        }
    )
    graph_per_room = max(c.traffic.graph_total for c in incremental) / rooms
    planon_requests = max(c.traffic.planon_total for c in incremental)
    writes = sum(c.traffic.graph_writes + c.traffic.planon_writes for c in incremental)
    full_writes = sum(c.traffic.graph_writes + c.traffic.planon_writes for c in full)
    result.check(f"Graph requests per room per incremental cycle (worst of {repeats})", graph_per_room, "<=", 1.0)
    result.check(
        f"Planon requests per incremental cycle, {rooms} rooms (1 per 100 rooms)",
        planon_requests,
        "<=",
        math.ceil(rooms / 100),
    )
    result.check(f"writes in {repeats} incremental cycles", writes, "==", 0)
    result.check(f"writes in {repeats} full-read cycles", full_writes, "==", 0)
    return result


async def _propagation(world: World, k: int) -> Result:
    result = Result("propagation", "3. Change propagation: k changes -> k writes, then 0")
    assert world.planon is not None and world.graph is not None
    rows = []

    async def measure(name: str, expect_graph: int, expect_planon: int) -> None:
        cycle = await world.cycle()
        after = await world.cycle()
        t = cycle.traffic
        rows.append(
            {
                "change": name,
                "Graph writes": t.graph_writes,
                "Planon writes": t.planon_writes,
                "Graph requests": t.graph_total,
                "Planon requests": t.planon_total,
                "writes next cycle": after.traffic.graph_writes + after.traffic.planon_writes,
                "Graph write operations": ", ".join(
                    f"{op}: {n}" for op, n in sorted(t.graph_operations().items()) if not op.startswith("GET")
                ),
                "Planon write operations": ", ".join(
                    f"{op}: {n}" for op, n in sorted(t.planon.items()) if not op.startswith("read/") and op != "token"
                ),
            }
        )
        result.check(f"{name}: Graph writes", t.graph_writes, "==", expect_graph)
        result.check(f"{name}: Planon writes", t.planon_writes, "==", expect_planon)
        result.check(
            f"{name}: writes in the next cycle", after.traffic.graph_writes + after.traffic.planon_writes, "==", 0
        )

    # k reservations renamed at a Planon touchpoint -> k PATCHes in Exchange, nothing written back to Planon
    for room in range(k):
        [first] = (await world.planon.reservations(room_code(room)))[:1]
        await world.planon.edit(int(first["syscode"]), subject=f"{first['description']} (renamed in Planon)")
    await measure(f"{k} renamed in Planon", k, 0)

    # k meetings renamed in Outlook -> k Planon updates, nothing written back to Exchange
    for room in range(k):
        events = await world.graph.room_events(room_mailbox(room))
        event = sorted(events, key=lambda e: str(e.get("start")))[1]
        await world.graph.edit(event["iCalUId"], subject=f"{event['subject']} (renamed in Outlook)")
    await measure(f"{k} renamed in Outlook", 0, k)

    # leader mode: k meeting requests sent to rooms that leave them to RoomSync -> one Planon write + one accept each
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=60)
    for room in range(k):
        start, end = slot(room % 5, day)
        await world.graph.book_in_outlook(
            PEOPLE[room % len(PEOPLE)], [room_mailbox(room)], f"Request {room}", start, end
        )
    await measure(f"{k} meeting requests (Planon leads)", k, k)
    result.table = rows
    result.notes.append(
        "leader mode: each request costs one Planon BomAdd and one accept (the Graph write); no link write-back, "
        "because Planon's link pairs the meeting"
    )
    return result
