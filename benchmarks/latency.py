"""5. Latency: a change on one side until it shows on the other, with ``interval: 2s``.

The runner cycles in a loop the way ``roomsync sync`` and the operator do (a cycle every ``interval``,
:mod:`roomsync.sync.cadence`). People rename bookings on alternating sides at a steady pace; one watcher polls the
other side's sandbox (admin API, every 100 ms) until each new subject appears. The figure includes that poll
resolution.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime

from benchmarks.core import Context, Result, percentile
from benchmarks.sandboxes import World, room_code, room_mailbox
from roomsync.sync.cadence import Cadence

INTERVAL = 2.0
POLL = 0.1


async def _operator_loop(world: World, cycles: list[float]) -> None:
    """``roomsync sync``'s loop (cli.sync_cmd._forever) without the printing."""
    assert world.runner is not None
    while True:
        cadence, clock = Cadence(), time.perf_counter()
        await world.runner.cycle(datetime.now(UTC))
        cycles.append(time.perf_counter() - clock)
        await asyncio.sleep(cadence.remaining(world.runner.config.interval.total_seconds()))


async def run(ctx: Context) -> Result:
    result = Result("latency", f"5. Latency, interval {INTERVAL:.0f} s: change on one side -> visible on the other")
    rooms, changes, spacing = (10, 50, 0.15) if ctx.quick else (1000, 100, 0.5)
    async with World(rooms, latency=0.020, interval=f"{INTERVAL:.0f}s") as world:
        ctx.say(f"latency: preparing {rooms} rooms")
        await world.seed_planon(5)
        await world.sync_until_agreed()
        cycles: list[float] = []
        loop = asyncio.create_task(_operator_loop(world, cycles))
        try:
            latencies = await probe(ctx, world, changes, spacing, "latency", patience=INTERVAL * 5 + 10)
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        ctx.step()
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    result.figures.update(
        {
            "rooms": rooms,
            "changes": changes,
            "changes seen on the other side": len(latencies),
            "p50": f"{p50:.2f} s",
            "p95": f"{p95:.2f} s",
            "max": f"{max(latencies):.2f} s",
            "cycle s, median (min, max)": f"{percentile(cycles, 50):.3f} ({min(cycles):.3f}, {max(cycles):.3f})",
            "poll resolution": f"{POLL:.1f} s",
        }
    )
    result.check("changes that arrived", len(latencies), "==", changes)
    result.check("p95 latency", p95, "<", INTERVAL + 1.0, "s")
    result.notes.append(
        "expected: about interval / 2 + one cycle on average, interval + one cycle at worst while a cycle is "
        f"shorter than the interval (a cycle starts every {INTERVAL:.0f} s)"
    )
    return result


async def probe(
    ctx: Context, world: World, changes: int, spacing: float, label: str, *, patience: float
) -> list[float]:
    """Rename bookings on alternating sides every ``spacing`` s while something syncs ``world``; the lag of each
    change until the other side shows it (watched every ``POLL`` s). Changes that never arrive are left out."""
    assert world.planon is not None and world.graph is not None
    rooms = world.rooms
    probed = range(min(rooms, changes))  # the rooms people edit in (change n goes to room n % rooms)
    planon = {room: await world.planon.reservations(room_code(room)) for room in probed}
    events = {room: await world.graph.room_events(room_mailbox(room)) for room in probed}
    pending: dict[str, tuple[str, int, float]] = {}  # subject -> (side that must show it, room, when made)
    seen: dict[str, float] = {}
    stop = asyncio.Event()

    async def watch() -> None:
        assert world.planon is not None and world.graph is not None
        while not stop.is_set() or pending:
            rooms_to_poll = {(side, room) for side, room, _ in pending.values()}
            for side, room in rooms_to_poll:
                if side == "Calendar":
                    subjects = {e.get("subject", "") for e in await world.graph.room_events(room_mailbox(room))}
                else:
                    subjects = {r["description"] for r in await world.planon.reservations(room_code(room))}
                now = time.perf_counter()
                for subject in [s for s in pending if s in subjects]:
                    seen[subject] = now - pending.pop(subject)[2]
            await asyncio.sleep(POLL)

    watcher = asyncio.create_task(watch())
    try:
        for n in range(changes):
            room = n % rooms
            slot_index = (n // rooms) % 5
            subject = f"{label} probe {n}"
            ctx.say(f"{label}: change {n + 1}/{changes}")
            if n % 2 == 0:  # made in Planon, must show in the room calendar
                reservation = sorted(planon[room], key=lambda r: r["start"])[slot_index]
                await world.planon.edit(int(reservation["syscode"]), subject=subject)
                pending[subject] = ("Calendar", room, time.perf_counter())
            else:
                event = sorted(events[room], key=lambda e: str(e.get("start")))[slot_index]
                await world.graph.edit(event["iCalUId"], subject=subject)
                pending[subject] = ("Planon", room, time.perf_counter())
            await asyncio.sleep(spacing)
        stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watcher, timeout=patience)
    finally:
        stop.set()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    return list(seen.values())
