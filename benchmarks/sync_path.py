"""2-4 on one synced world: initial sync (4), the no-change cycle against a plain-httpx baseline (2), ``$batch`` on
and off (2b), requests per created booking and change propagation (3).

A world is ``rooms`` rooms in the Planon and Graph sandboxes (own process, 20 ms per request, 4 concurrent requests
per mailbox), one RoomSync over them opened as ``roomsync sync`` opens it, and ``per_room`` reservations made in
Planon before the first cycle. Every request is counted by the sandboxes, not by the code under test, and every
bound comes from the floor (what any client must send), not from RoomSync's own counts.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks import plain_http
from benchmarks.core import Context, Result
from benchmarks.sandboxes import PEOPLE, Cycle, World, room_code, room_mailbox, slot
from roomsync.model import Side

LATENCY = 0.020
#: What the vendors allow (the bound's divisor, not the product's settings): Exchange Online serves 4 concurrent
#: requests per app and mailbox (graph-and-ews.md 1.6); Planon publishes no limit, RoomSync assumes 16 for a cloud
#: tenant and uses the same figure as its default (docs/planon.md 3.1).
GRAPH_PER_MAILBOX = 4
PLANON_CONCURRENCY = 16
#: Reservation units one Planon read may name (the connector's chunkSize; one filter per 100 units).
PLANON_UNITS_PER_READ = 100
#: One-off Planon reads any client makes on its first cycle besides the units: their property (time zone), persons.
PLANON_SETUP_READS = 2


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} (min {min(values):.3f}, max {max(values):.3f})"


async def run(ctx: Context) -> list[Result]:
    rooms, per_room = (20, 10) if ctx.quick else (1000, 10)
    async with World(rooms, latency=LATENCY, leader="Planon", processing="AutoUpdate") as world:
        ctx.say(f"initial sync: {rooms:,} rooms x {per_room} from Planon into empty calendars")
        await world.seed_planon(per_room)
        initial = await _initial(world, per_room)
        ctx.step()
        ctx.say(f"no-change cycles at {rooms:,} rooms against plain httpx; $batch on and off")
        steady = await _steady(world, repeats=3)
        batching = await _batching(world, repeats=3)
        ctx.step()
        ctx.say("requests per created booking; change propagation")
        propagation = await _propagation(world, k=5 if ctx.quick else 20)
        ctx.step()
    return [initial, steady, batching, propagation]


def _floor(rooms: int, bookings: int) -> dict[str, int]:
    """The least any client sends for a first sync of ``bookings`` Planon reservations into empty room calendars:
    Graph one read per mailbox and one create per booking; Planon one link write per booking (the calendar's id
    on the reservation), the units and the reservations read once (100 units per filter) and the set-up reads."""
    return {
        "graph": rooms + bookings,
        "planon": bookings + math.ceil(rooms / PLANON_UNITS_PER_READ) * 2 + PLANON_SETUP_READS,
    }


async def _initial(world: World, per_room: int) -> Result:
    result = Result("initial", f"4. Initial sync, {world.rooms:,} rooms x {per_room}, from Planon into empty calendars")
    cycles = await world.sync_until_agreed()
    first = cycles[0]
    t = first.traffic
    bookings = world.rooms * per_room
    floor = _floor(world.rooms, bookings)
    graph_bound = LATENCY * floor["graph"] / (GRAPH_PER_MAILBOX * world.rooms)
    planon_bound = LATENCY * floor["planon"] / PLANON_CONCURRENCY
    bound = max(graph_bound, planon_bound)  # the two sides work at the same time; the slower one bounds the cycle
    total, floor_total = t.graph_total + t.planon_total, floor["graph"] + floor["planon"]
    result.figures.update(
        {
            "rooms x bookings": f"{world.rooms:,} x {per_room}",
            "latency per request": f"{LATENCY * 1000:.0f} ms",
            "floor requests, Graph (1 read per mailbox + 1 create per booking)": floor["graph"],
            "floor requests, Planon (1 link write per booking + reads)": floor["planon"],
            "Graph requests served by the mailboxes (inside $batch or alone)": t.graph_total,
            "Graph HTTP requests ($batch counted once)": t.graph_http,
            "Graph $batch requests": t.graph_batches,
            "Planon requests": t.planon_total,
            "requests / floor": round(total / floor_total, 3),
            "requests per created booking": round(
                (t.graph_by(operation="events.create") + t.planon_writes) / bookings, 3
            ),
            "429 answers": t.graph_throttled,
            "most requests in flight per mailbox": max(t.graph_max_in_flight.values(), default=0),
            "bound, Graph = latency x floor / (4 per mailbox x rooms)": f"{graph_bound:.2f} s",
            "bound, Planon = latency x floor / 16": f"{planon_bound:.2f} s",
            "bound (the larger)": f"{bound:.2f} s",
            "wall time": f"{first.wall:.2f} s",
            "CPU time (operator process)": f"{first.cpu:.2f} s",
            "CPU time (sandbox process)": f"{first.sandbox_cpu:.2f} s",
            "Planon operations": dict(sorted(t.planon.items())),
            "Graph operations": t.graph_operations(),
            "ratio wall / bound": round(first.wall / bound, 2),
            "cycles until agreed": len(cycles),
        }
    )
    result.check("every reservation created in the calendar", t.graph_by(operation="events.create"), "==", bookings)
    result.check("Planon link writes per created booking", t.planon_writes / bookings, "==", 1)
    result.check("requests / floor", total / floor_total, "<=", 1.05)
    result.check("wall time / floor bound", first.wall / bound, "<=", 2.0)
    result.check(
        "writes in the cycle after", sum(c.traffic.graph_writes + c.traffic.planon_writes for c in cycles[1:]), "==", 0
    )
    if first.cpu > bound:
        result.notes.append(
            f"the operator process used {first.cpu:.1f} s of CPU, more than the I/O bound ({bound:.1f} s): "
            "at this size the initial sync is bounded by CPU on this machine, not by the vendors' concurrency"
        )
    return result


def _delta_links(world: World) -> list[str]:
    assert world.runner is not None
    store: Any = world.runner.stores[Side.CALENDAR]
    links = [store.client.mailbox_state(room_mailbox(i)).delta_link for i in range(world.rooms)]
    if not all(links):
        raise RuntimeError("a mailbox has no deltaLink after a synced cycle")
    return links


async def _steady(world: World, repeats: int) -> Result:
    result = Result("steady", f"2. No-change cycle at {world.rooms:,} rooms: RoomSync against plain httpx")
    assert world.runner is not None
    store: Any = world.runner.stores[Side.CALENDAR]
    settings = store.client.settings
    spec = world.info["graph"]["spec"]
    secret = next(v for name, key, v in world.info["secrets"] if key == "clientSecret" and name.startswith("graph"))
    bearer = await plain_http.token(spec, secret)
    cycles: list[Cycle] = []
    baselines: list[plain_http.Baseline] = []
    for _ in range(repeats):  # interleaved, so both see the same machine
        cycles.append(await world.cycle())
        baselines.append(await plain_http.delta_gets(spec, bearer, _delta_links(world), settings.max_in_flight))
    full = await world.cycle(full=True)
    rooms = world.rooms
    cpu = [c.cpu for c in cycles]
    base_cpu = [b.cpu for b in baselines]
    ratio = statistics.median(cpu) / statistics.median(base_cpu)
    per_mailbox = max(max(c.traffic.graph_max_in_flight.values(), default=0) for c in cycles)
    http_in_flight = max(c.traffic.graph_max_http_in_flight for c in cycles)

    def row(name: str, graph: int, http: int, planon: int, writes: int, wall: list[float], cpus: list[float]) -> Any:
        return {
            "cycle": name,
            "Graph requests (mailbox)": graph,
            "Graph HTTP requests": http,
            "Planon requests": planon,
            "writes": writes,
            "wall s, median (min, max)": _spread(wall),
            "CPU s, median (min, max)": _spread(cpus),
        }

    last = cycles[-1].traffic
    result.table = [
        row(
            "RoomSync incremental cycle",
            last.graph_total,
            last.graph_http,
            last.planon_total,
            sum(c.traffic.graph_writes + c.traffic.planon_writes for c in cycles),
            [c.wall for c in cycles],
            cpu,
        ),
        row("plain httpx: the same delta GETs only", rooms, rooms, 0, 0, [b.wall for b in baselines], base_cpu),
        row(
            "RoomSync full-window read (hourly)",
            full.traffic.graph_total,
            full.traffic.graph_http,
            full.traffic.planon_total,
            full.traffic.graph_writes + full.traffic.planon_writes,
            [full.wall],
            [full.cpu],
        ),
    ]
    result.figures.update(
        {
            "rooms": rooms,
            "bookings (Planon side)": len(cycles[-1].result.snapshots[Side.PLANON].bookings),
            "CPU RoomSync / plain httpx (medians)": round(ratio, 2),
            "baseline answers": dict(baselines[-1].statuses),
            "most requests in flight per mailbox": per_mailbox,
            "most Graph HTTP requests in flight": http_in_flight,
            "maxRequestsInFlight / maxConcurrentPerMailbox / batchSize": (
                f"{settings.max_in_flight} / {settings.max_concurrent} / {settings.batch_size}"
            ),
            "sandbox CPU per incremental cycle, median": round(statistics.median(c.sandbox_cpu for c in cycles), 3),
        }
    )
    result.check("CPU of a no-change cycle / plain httpx, medians", ratio, "<=", 1.5)
    result.check(
        "Graph requests per room per no-change cycle (worst)",
        max(c.traffic.graph_total for c in cycles) / rooms,
        "<=",
        1,
    )
    result.check(
        f"Planon requests per no-change cycle, {rooms:,} rooms (1 per 100 rooms)",
        max(c.traffic.planon_total for c in cycles),
        "<=",
        math.ceil(rooms / PLANON_UNITS_PER_READ),
    )
    result.check("requests in flight per mailbox", per_mailbox, "<=", GRAPH_PER_MAILBOX)
    result.check("Graph HTTP requests in flight", http_in_flight, "<=", settings.max_in_flight)
    result.check(f"writes in {repeats} no-change cycles and a full read", result.table[0]["writes"], "==", 0)
    result.check("writes in the full-read cycle", full.traffic.graph_writes + full.traffic.planon_writes, "==", 0)
    return result


async def _batching(world: World, repeats: int) -> Result:
    result = Result("batch", f"2b. $batch on and off: no-change cycle at {world.rooms:,} rooms")
    alone = await world.other_runner(batchSize=1)
    await world.cycle(runner=alone)  # its first cycle reads everything (a new process would too)
    rows = []
    measured: dict[str, list[Cycle]] = {"batched (batchSize 20, the default)": [], "alone (batchSize 1)": []}
    for _ in range(repeats):  # interleaved
        measured["batched (batchSize 20, the default)"].append(await world.cycle())
        measured["alone (batchSize 1)"].append(await world.cycle(runner=alone))
    for name, cycles in measured.items():
        t = cycles[-1].traffic
        rows.append(
            {
                "Graph requests": name,
                "served by mailboxes": t.graph_total,
                "HTTP requests": t.graph_http,
                "$batch": t.graph_batches,
                "wall s, median (min, max)": _spread([c.wall for c in cycles]),
                "CPU s, median (min, max)": _spread([c.cpu for c in cycles]),
                "writes": sum(c.traffic.graph_writes + c.traffic.planon_writes for c in cycles),
            }
        )
    result.table = rows
    on, off = measured.values()
    cpu_on, cpu_off = statistics.median(c.cpu for c in on), statistics.median(c.cpu for c in off)
    result.figures["CPU batched / alone (medians)"] = round(cpu_on / cpu_off, 2)
    result.figures["HTTP requests batched / alone"] = round(on[-1].traffic.graph_http / off[-1].traffic.graph_http, 3)
    result.check(
        "same mailbox requests with and without $batch", on[-1].traffic.graph_total, "==", off[-1].traffic.graph_total
    )
    result.check("HTTP requests batched / alone", on[-1].traffic.graph_http / off[-1].traffic.graph_http, "<=", 0.1)
    result.check("no writes either way", rows[0]["writes"] + rows[1]["writes"], "==", 0)
    return result


async def _propagation(world: World, k: int) -> Result:
    result = Result("propagation", "3. Requests per created booking; change propagation: k changes -> k writes, then 0")
    assert world.planon is not None and world.graph is not None
    rows = []

    async def measure(
        name: str, change: Callable[[], Awaitable[None]], expect_graph: int, expect_planon: int, created: bool = False
    ) -> None:
        quiet = await world.cycle()  # the same cycle with nothing to do: its reads are not the change's
        await change()
        cycle = await world.cycle()
        after = await world.cycle()
        t = cycle.traffic
        extra = (t.graph_total + t.planon_total) - (quiet.traffic.graph_total + quiet.traffic.planon_total)
        rows.append(
            {
                "change": name,
                "Graph writes": t.graph_writes,
                "Planon writes": t.planon_writes,
                "requests above a no-change cycle": extra,
                "per change": round(extra / k, 2),
                "writes next cycle": after.traffic.graph_writes + after.traffic.planon_writes,
                "Graph write operations": ", ".join(
                    f"{op}: {n}"
                    for op, n in sorted(t.graph_operations().items())
                    if not op.startswith(("GET", "POST $"))
                ),
                "Planon write operations": ", ".join(
                    f"{op}: {n}" for op, n in sorted(t.planon.items()) if not op.startswith("read/") and op != "token"
                ),
            }
        )
        result.check(f"{name}: Graph writes", t.graph_writes, "==", expect_graph)
        result.check(f"{name}: Planon writes", t.planon_writes, "==", expect_planon)
        if created:
            result.check(f"{name}: requests per created booking (floor 2)", extra / k, "<=", 2)
        result.check(
            f"{name}: writes in the next cycle", after.traffic.graph_writes + after.traffic.planon_writes, "==", 0
        )

    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=50)

    async def book_in_planon() -> None:  # -> k calendar creates + k Planon link writes (the floor: 2 each)
        assert world.planon is not None
        for room in range(k):
            start, end = slot(room % 5, day)
            await world.planon.book(room_code(room), start, end, f"New {room}", requestor=PEOPLE[room % len(PEOPLE)])

    async def request_rooms() -> None:  # leader mode -> one Planon write + one accept each
        assert world.graph is not None
        for room in range(k):
            start, end = slot(room % 5, day + timedelta(days=10))
            await world.graph.book_in_outlook(
                PEOPLE[room % len(PEOPLE)], [room_mailbox(room)], f"Request {room}", start, end
            )

    async def rename_in_planon() -> None:  # -> k PATCHes in Exchange, nothing written back to Planon
        assert world.planon is not None
        for room in range(k):
            [first] = (await world.planon.reservations(room_code(room)))[:1]
            await world.planon.edit(int(first["syscode"]), subject=f"{first['description']} (renamed in Planon)")

    async def rename_in_outlook() -> None:  # -> k Planon updates, nothing written back to Exchange
        assert world.graph is not None
        for room in range(k):
            events = await world.graph.room_events(room_mailbox(room))
            event = sorted(events, key=lambda e: str(e.get("start")))[1]
            await world.graph.edit(event["iCalUId"], subject=f"{event['subject']} (renamed in Outlook)")

    await measure(f"{k} booked in Planon", book_in_planon, k, k, created=True)
    await measure(f"{k} meeting requests (Planon leads)", request_rooms, k, k, created=True)
    await measure(f"{k} renamed in Planon", rename_in_planon, k, 0)
    await measure(f"{k} renamed in Outlook", rename_in_outlook, 0, k)
    result.table = rows
    result.notes.append(
        "a booking made in Planon costs one calendar create and one Planon link write; a meeting request to a room "
        "Planon leads costs one Planon BomAdd and one accept, and no link write-back (Planon's link pairs it)"
    )
    return result
