"""2-4 again with the rooms on Exchange on-premise: the same world reached through EWS instead of Graph.

The Exchange sandbox runs with its EWS face (one mailbox store, 20 ms per request); one RoomSync on an EWS
Connection (NTLM, impersonation, the connector's defaults: 8 threads, 4 requests per room) is opened the way
``roomsync sync`` opens it. The targets are those of the Graph rows: one request per room in a cycle that changes
nothing, one write per change, no echo write, every booking created by the initial sync. The figures are counted by
the sandbox (its EWS request log), not by the connector.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

from benchmarks.core import Context, Result
from benchmarks.sandboxes import PEOPLE, Cycle, World, room_code, room_mailbox, slot
from roomsync.model import Side
from roomsync.sync.apply import DEFAULT_CONCURRENCY

LATENCY = 0.020
THREADS = 8  # spec.ews.threads default
PER_ROOM = 4  # spec.ews.maxConcurrentRequests default


async def run(ctx: Context) -> list[Result]:
    rooms, per_room = (20, 10) if ctx.quick else (200, 50)
    async with World(rooms, latency=LATENCY, leader="Planon", processing="AutoUpdate", calendar="ews") as world:
        ctx.say(f"EWS initial sync: {rooms} rooms x {per_room} from Planon into empty calendars")
        await world.seed_planon(per_room)
        initial = await _initial(world, per_room)
        ctx.step()
        ctx.say("EWS steady state: SyncFolderItems cycles against full-window reads")
        steady = await _steady(world, repeats=2 if ctx.quick else 3)
        ctx.step()
        ctx.say("EWS change propagation: k changes each way, leader-mode requests")
        propagation = await _propagation(world, k=5 if ctx.quick else 20)
        ctx.step()
    return [initial, steady, propagation]


def _ews_row(name: str, cycle: Cycle, rooms: int, wall: float) -> dict[str, object]:
    t = cycle.traffic
    return {
        "cycle": name,
        "EWS requests": t.ews_total,
        "EWS / room": round(t.ews_total / rooms, 2),
        "Planon requests": t.planon_total,
        "writes": t.ews_writes + t.planon_writes,
        "wall s": round(wall, 3),
        "EWS operations": ", ".join(f"{k}: {v}" for k, v in sorted(t.ews_operations().items())),
    }


async def _initial(world: World, per_room: int) -> Result:
    result = Result("ews-initial", "4e. Initial sync from Planon into empty on-premise calendars (EWS)")
    cycles = await world.sync_until_agreed()
    first = cycles[0]
    t = first.traffic
    usable = min(DEFAULT_CONCURRENCY, THREADS, PER_ROOM * world.rooms)
    assert world.runner is not None
    planon_limit = int(world.runner.stores[Side.PLANON].settings.max_concurrent_requests)  # type: ignore[attr-defined]
    ews_bound = LATENCY * t.ews_total / usable
    planon_bound = LATENCY * t.planon_total / planon_limit
    bound = max(ews_bound, planon_bound)  # both sides work at once; the slower bounds the cycle
    creates = sum(r["count"] for r in t.ews if r["operation"] == "CreateItem" and r["status"] == 200)
    result.figures.update(
        {
            "rooms x bookings": f"{world.rooms} x {per_room}",
            "latency per request": f"{LATENCY * 1000:.0f} ms",
            "EWS requests": t.ews_total,
            "EWS creates": creates,
            "Planon requests": t.planon_total,
            "EWS operations (first cycle)": t.ews_operations(),
            "usable concurrency": f"min(apply {DEFAULT_CONCURRENCY}, threads {THREADS}, {PER_ROOM} x rooms) = {usable}",
            "bound, EWS = latency x requests / concurrency": f"{ews_bound:.2f} s",
            "bound, Planon = latency x requests / concurrency": f"{planon_bound:.2f} s",
            "bound (the larger)": f"{bound:.2f} s",
            "wall time": f"{first.wall:.2f} s",
            "CPU time (operator process)": f"{first.cpu:.2f} s",
            "ratio wall / bound": round(first.wall / bound, 2),
            "cycles until agreed": len(cycles),
        }
    )
    result.check("every reservation created in the calendar (CreateItem)", creates, "==", world.rooms * per_room)
    result.check("EWS requests per room to read it the first time", _reads(first) / world.rooms, "<=", 3.0)
    result.check(
        "writes in the cycles after", sum(c.traffic.ews_writes + c.traffic.planon_writes for c in cycles[1:]), "==", 0
    )
    result.notes.append(
        "the first read of a room is a SyncFolderItems walk with the IdOnly shape (its sync state) and a calendar "
        "view (FindItem) of the window: the bookings are created in the same cycle, so it reads empty calendars"
    )
    return result


def _reads(cycle: Cycle) -> int:
    return sum(r["count"] for r in cycle.traffic.ews if r["operation"] in ("SyncFolderItems", "FindItem"))


async def _steady(world: World, repeats: int) -> Result:
    result = Result("ews-steady", "2e. Steady state, nothing changed: SyncFolderItems cycle vs full-window reads (EWS)")
    incremental = [await world.cycle() for _ in range(repeats)]
    full = [await world.cycle(full=True) for _ in range(repeats)]
    inc_wall = statistics.median(c.wall for c in incremental)
    full_wall = statistics.median(c.wall for c in full)
    rooms = world.rooms
    worst = max(incremental, key=lambda c: c.traffic.ews_total)
    result.table = [
        _ews_row("incremental (SyncFolderItems), the worst", worst, rooms, inc_wall),
        _ews_row("full-window read (baseline)", full[-1], rooms, full_wall),
    ]
    # NTLM's challenge legs (401) are IIS authentication on a new connection, not EWS operations: counted apart
    handshakes = sum(r["count"] for r in worst.traffic.ews if r["status"] == 401)
    per_room = (worst.traffic.ews_total - handshakes) / rooms
    writes = sum(c.traffic.ews_writes + c.traffic.planon_writes for c in incremental + full)
    result.figures.update(
        {
            "rooms": rooms,
            "requests full / incremental": round(
                (full[-1].traffic.ews_total + full[-1].traffic.planon_total)
                / max(1, incremental[-1].traffic.ews_total + incremental[-1].traffic.planon_total),
                1,
            ),
            "wall time full / incremental": round(full_wall / inc_wall, 1),
            "NTLM handshake legs (401) in the worst incremental cycle": handshakes,
        }
    )
    result.check(f"EWS operations per room per incremental cycle (worst of {repeats})", per_room, "<=", 1.0)
    result.check(f"writes in {repeats} incremental and {repeats} full-read cycles", writes, "==", 0)
    return result


async def _propagation(world: World, k: int) -> Result:
    result = Result("ews-propagation", "3e. Change propagation through EWS: k changes -> k writes, then 0")
    assert world.planon is not None and world.graph is not None
    rows = []

    async def measure(name: str, expect_ews: int, expect_planon: int) -> None:
        cycle = await world.cycle()
        after = await world.cycle()
        t = cycle.traffic
        rows.append(
            {
                "change": name,
                "EWS writes": t.ews_writes,
                "Planon writes": t.planon_writes,
                "EWS requests": t.ews_total,
                "Planon requests": t.planon_total,
                "writes next cycle": after.traffic.ews_writes + after.traffic.planon_writes,
                "EWS operations": ", ".join(f"{op}: {n}" for op, n in sorted(t.ews_operations().items())),
            }
        )
        result.check(f"{name}: EWS writes", t.ews_writes, "==", expect_ews)
        result.check(f"{name}: Planon writes", t.planon_writes, "==", expect_planon)
        result.check(
            f"{name}: writes in the next cycle", after.traffic.ews_writes + after.traffic.planon_writes, "==", 0
        )

    for room in range(k):  # renamed at a Planon touchpoint -> one UpdateItem each
        [first] = (await world.planon.reservations(room_code(room)))[:1]
        await world.planon.edit(int(first["syscode"]), subject=f"{first['description']} (renamed in Planon)")
    await measure(f"{k} renamed in Planon", k, 0)

    for room in range(k):  # renamed in Outlook (the room's delegate) -> one Planon update each, nothing back
        events = await world.graph.room_events(room_mailbox(room))
        event = sorted(events, key=lambda e: str(e.get("start")))[1]
        await world.graph.edit(event["iCalUId"], subject=f"{event['subject']} (renamed in Outlook)")
    await measure(f"{k} renamed in Outlook", 0, k)

    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=60)
    for room in range(k):  # meeting requests to rooms Planon leads -> one Planon write + one AcceptItem each
        start, end = slot(room % 5, day)
        await world.graph.book_in_outlook(
            PEOPLE[room % len(PEOPLE)], [room_mailbox(room)], f"Request {room}", start, end
        )
    await measure(f"{k} meeting requests (Planon leads)", k, k)
    result.table = rows
    result.notes.append(
        "an update is one UpdateItem of the changed fields (NeverOverwrite, with the ChangeKey read); an answer is "
        "one CreateItem with AcceptItem; the read that follows a write costs a GetItem, never a write"
    )
    return result
