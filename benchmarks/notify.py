"""6. Change notifications: change lag with notifications on and a 5-minute poll, beside polling, in one run; the
same with the rooms on Exchange on-premises (EWS streaming subscriptions).

One World (Graph and Planon sandboxes in their own process, 20 ms per request) is synced three ways in turn:

- **notifications**: the operator's notification path without Kubernetes - the product's
  :class:`~roomsync.sync.notify.receiver.Receiver` over HTTPS, a :class:`~roomsync.sync.notify.keeper.ChannelKeeper`
  subscribing every room mailbox through msgraph-sdk, the Planon sandbox's Event Connector app calling the trigger -
  and the worker's loop: sleep the safety-net ``pollInterval`` (5 minutes) unless a notification wakes it, then read
  only the rooms it named;
- **polling** at ``interval`` 5 s (the baseline: the lag of polling grows with the interval, ~interval/2 on average);
- nothing changing, to count what an idle hour costs per room: a safety-net poll (measured: one incremental cycle)
  and a subscription renewal (measured: one renewal pass), scaled by how often each happens.

EWS: the same probe against an Exchange sandbox reached through EWS: every room subscribed (streaming), one
``GetStreamingEvents`` connection carrying them all, the events delivered in-process to the same router; its idle
cost is the safety-net poll plus the connection re-opened every 30 minutes (measured: the requests of one re-open).

People rename bookings on alternating sides; a watcher reads the other side every 100 ms (``latency.probe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import trustme
from aiohttp import web

from benchmarks.core import Context, Result, percentile
from benchmarks.latency import POLL, probe
from benchmarks.sandboxes import NAMESPACE, World
from roomsync.connectors.ews.streaming import CONNECTION_MINUTES
from roomsync.connectors.graph.subscriptions import LIFETIME
from roomsync.connectors.push import PushChannels
from roomsync.sync.notify.addresses import CONNECTION, Address, ConnectionKey
from roomsync.sync.notify.keeper import ChannelKeeper
from roomsync.sync.notify.receiver import Receiver, Wake
from roomsync.sync.notify.settings import ACTIVE, DEFAULT_POLL_INTERVAL, IN_PROCESS, NotifySettings

SAFETY_NET = timedelta(minutes=5)
POLLING = 5.0  # the baseline's interval, seconds
KEY = b"the benchmark's notification key"
TOKEN = "the benchmark's Planon trigger token"
CALENDAR = ConnectionKey(CONNECTION, NAMESPACE, "exchange")
PLANON = ConnectionKey(CONNECTION, NAMESPACE, "planon")
ROOMSYNC = (NAMESPACE, "tower")


class Worker:
    """The operator's worker loop for one RoomSync, woken by the receiver (what ``k8s.notifications`` routes)."""

    def __init__(self, world: World, base: str) -> None:
        self.world = world
        self.base = base
        self.woken: set[str] = set()
        self.wake = asyncio.Event()
        self.outcomes: dict[str, int] = {}
        self.cycles: list[float] = []
        self.receiver: Receiver | None = None

    async def settings(self, connection: ConnectionKey, backend: str) -> NotifySettings | None:
        if connection == PLANON and backend == "planon":
            return NotifySettings(True, ACTIVE, "", None, TOKEN.encode(), SAFETY_NET)
        if connection == CALENDAR and backend == "graph":
            return NotifySettings(True, ACTIVE, "", self.base, KEY, SAFETY_NET)
        if connection == CALENDAR and backend == "ews":  # streaming: the address only names the room in-process
            return NotifySettings(True, ACTIVE, "", IN_PROCESS, KEY, SAFETY_NET)
        return None

    def count(self, backend: str, outcome: str, count: int = 1) -> None:
        self.outcomes[f"{backend} {outcome}"] = self.outcomes.get(f"{backend} {outcome}", 0) + count

    async def deliver(self, wake: Wake) -> int:
        assert self.world.runner is not None
        rooms = self.world.runner.config.rooms
        if wake.roomsync is None:
            self.woken |= {r.planon for r in rooms if not wake.units or r.planon in wake.units}
        elif wake.roomsync == ROOMSYNC:
            self.woken |= {r.planon for r in rooms if r.calendar.casefold() == wake.calendar}
        self.wake.set()
        return 1

    async def run(self, poll: float) -> None:
        """Cycle, then sleep ``poll`` seconds or until woken; a notified pass reads only the rooms notified."""
        assert self.world.runner is not None
        rooms: set[str] | None = None
        while True:
            clock = time.perf_counter()
            await self.world.runner.cycle(datetime.now(UTC), changed_rooms=rooms)
            self.cycles.append(time.perf_counter() - clock)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=poll)
            self.wake.clear()
            woken, self.woken = self.woken, set()
            rooms = woken or None


async def _serve(worker: Worker, ca: trustme.CA) -> tuple[web.AppRunner, int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    worker.receiver = Receiver(worker.settings, worker, worker.count)
    runner = web.AppRunner(worker.receiver.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    return runner, runner.addresses[0][1]


@contextlib.asynccontextmanager
async def _notified_world(ctx: Context, rooms: int, calendar: str) -> AsyncIterator[tuple[World, Worker, str]]:
    """A synced World whose Planon Event Connector calls the product's receiver (HTTPS with a throw-away CA): the
    world, the worker behind the receiver, and the CA's PEM for the calendar side to trust."""
    async with World(rooms, latency=0.020, interval="5m", calendar=calendar) as world:
        assert world.runner is not None and world.planon is not None and world.graph is not None
        ctx.say(f"notify: {calendar}, preparing {rooms} rooms")
        await world.seed_planon(5)
        await world.sync_until_agreed()
        ca = trustme.CA()
        worker = Worker(world, "")
        server, port = await _serve(worker, ca)
        try:
            worker.base = f"https://127.0.0.1:{port}/notifications"
            pem = ca.cert_pem.bytes().decode()
            trigger = {"url": Address.trigger(PLANON).url(worker.base), "token": TOKEN, "ca": pem}
            async with (
                aiohttp.ClientSession() as session,
                session.put(f"{world.info['planon']['root']}/_admin/event-connector", json=trigger) as answer,
            ):
                answer.raise_for_status()
            yield world, worker, pem
        finally:
            await server.cleanup()


async def _lag(
    ctx: Context, world: World, worker: Worker, poll: float, changes: int, spacing: float, label: str
) -> list[float]:
    loop = asyncio.create_task(worker.run(poll))
    try:
        return await probe(ctx, world, changes, spacing, label, patience=min(poll * 3, 60) + 10)
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop


async def run(ctx: Context) -> Result:
    result = Result("notify", "6. Change notifications: lag with a 5-minute poll, beside polling; idle cost")
    rooms, changes, spacing = (10, 30, 0.2) if ctx.quick else (50, 100, 0.5)
    async with _notified_world(ctx, rooms, "graph") as (world, worker, pem):
        assert world.runner is not None
        async with aiohttp.ClientSession() as session:
            graph_ca = ssl.create_default_context(cadata=world.info["graph"]["ca"])
            trust = session.put(
                f"{world.info['graph']['origin']}/_admin/notifications/trust", json={"ca": pem}, ssl=graph_ca
            )
            async with trust as answer:
                answer.raise_for_status()
        client = next(c for c in world.pool.clients() if c.backend == "graph")
        push: PushChannels = client.push  # type: ignore[attr-defined]
        keeper = ChannelKeeper(CALENDAR, "graph", ROOMSYNC)
        settings = await worker.settings(CALENDAR, "graph")
        assert settings is not None
        calendars = [r.calendar for r in world.runner.config.rooms]
        clock = time.perf_counter()
        await keeper.keep(push, settings, calendars, datetime.now(UTC))
        subscribe_seconds = time.perf_counter() - clock
        subscribed = len(keeper.kept)

        ctx.say("notify: lag with notifications, 5-minute safety-net poll")
        notified = await _lag(ctx, world, worker, SAFETY_NET.total_seconds(), changes, spacing, "notified")
        ctx.say("notify: an idle hour's requests per room")
        await world.reset_counters()
        await world.runner.cycle(datetime.now(UTC))
        idle = await world.traffic()
        poll_per_room = (idle.graph_total + idle.planon_total) / rooms
        await world.reset_counters()
        keeper.resubscribe |= {c.casefold() for c in calendars}  # one renewal pass, as when a third is left
        await keeper.keep(push, settings, calendars, datetime.now(UTC))
        renewal = await world.traffic()
        renew_per_room = renewal.graph_total / rooms
        await keeper.close(push)  # the baseline runs without subscriptions

        ctx.say(f"notify: lag when polling every {POLLING:.0f} s (baseline)")
        baseline = Worker(world, worker.base)
        polled = await _lag(ctx, world, baseline, POLLING, changes // 2, spacing, "polling")
        ctx.step()

    ews = await _ews(ctx, rooms, changes, spacing)
    renewal_hours = (LIFETIME * 2 / 3).total_seconds() / 3600  # renewed once a third of the lifetime is left

    def per_hour(poll: timedelta, renewals: bool) -> float:
        return poll_per_room * timedelta(hours=1) / poll + (renew_per_room / renewal_hours if renewals else 0.0)

    n50, n95 = percentile(notified, 50), percentile(notified, 95)
    p50, p95 = percentile(polled, 50), percentile(polled, 95)
    result.table = [
        {
            "mode": "notifications, safety-net poll 5 min",
            "changes seen": f"{len(notified)}/{changes}",
            "lag p50 s": round(n50, 2),
            "lag p95 s": round(n95, 2),
            "lag max s": round(max(notified), 2),
            "idle requests / room / hour": round(per_hour(SAFETY_NET, True), 2),
        },
        {
            "mode": f"notifications, safety-net poll {int(DEFAULT_POLL_INTERVAL.total_seconds() // 60)} min (default)",
            "changes seen": "-",
            "lag p50 s": "-",
            "lag p95 s": "-",
            "lag max s": "-",
            "idle requests / room / hour": round(per_hour(DEFAULT_POLL_INTERVAL, True), 2),
        },
        {
            "mode": "EWS streaming, safety-net poll 5 min",
            "changes seen": f"{len(ews.lags)}/{changes}",
            "lag p50 s": round(percentile(ews.lags, 50), 2),
            "lag p95 s": round(percentile(ews.lags, 95), 2),
            "lag max s": round(max(ews.lags), 2),
            "idle requests / room / hour": round(ews.per_hour(SAFETY_NET), 2),
        },
        {
            "mode": "EWS streaming, safety-net poll 15 min (default) / EWS pull at 5 min (computed)",
            "changes seen": "-",
            "lag p50 s": "- / ~150",
            "lag p95 s": "- / ~285",
            "lag max s": "-",
            "idle requests / room / hour": (
                f"{ews.per_hour(DEFAULT_POLL_INTERVAL):.2f} / {ews.pull_per_hour(timedelta(minutes=5)):.1f}"
            ),
        },
        {
            "mode": f"polling every {POLLING:.0f} s (baseline)",
            "changes seen": f"{len(polled)}/{changes // 2}",
            "lag p50 s": round(p50, 2),
            "lag p95 s": round(p95, 2),
            "lag max s": round(max(polled), 2),
            "idle requests / room / hour": round(per_hour(timedelta(seconds=POLLING), False), 1),
        },
        {
            "mode": "polling every 60 s / 5 min (computed from the measured cycle)",
            "changes seen": "-",
            "lag p50 s": "~30 / ~150",
            "lag p95 s": "~57 / ~285",
            "lag max s": "-",
            "idle requests / room / hour": (
                f"{per_hour(timedelta(minutes=1), False):.1f} / {per_hour(timedelta(minutes=5), False):.1f}"
            ),
        },
    ]
    result.figures.update(
        {
            "rooms": rooms,
            "subscriptions made": subscribed,
            "subscribing every room (validation handshakes)": f"{subscribe_seconds:.2f} s",
            "requests per room, one safety-net poll": round(poll_per_room, 3),
            "requests per room, one renewal": round(renew_per_room, 3),
            "renewal period": f"{renewal_hours:.1f} h (two thirds of {LIFETIME.total_seconds() / 60:.0f} min)",
            "notified cycles (median)": f"{sorted(worker.cycles)[len(worker.cycles) // 2]:.3f} s",
            "notifications received": ", ".join(f"{k}: {v}" for k, v in sorted(worker.outcomes.items())),
            "watcher resolution": f"{POLL:.1f} s",
        }
    )
    result.figures.update(
        {
            "EWS: requests per room, one safety-net poll": round(ews.poll_per_room, 3),
            "EWS: requests to open a streaming connection (all rooms, NTLM legs included)": ews.open_requests,
            "EWS: streaming connections held": ews.connections,
        }
    )
    result.check("changes that arrived, EWS streaming", len(ews.lags), "==", changes)
    result.check("lag p95 with EWS streaming, 5-minute poll", percentile(ews.lags, 95), "<", 2.0, "s")
    result.check("changes that arrived, notifications", len(notified), "==", changes)
    result.check("lag p95 with notifications, 5-minute poll", n95, "<", 2.0, "s")
    result.check("changes that arrived, polling baseline", len(polled), "==", changes // 2)
    result.check("subscriptions, one per room", subscribed, "==", rooms)
    result.notes.append(
        "the lag with notifications does not depend on the poll interval: no poll ran during the probe (5 min); "
        "polling's lag is about interval/2 on average and interval at worst, whatever the interval"
    )
    result.notes.append(
        "idle cost = requests of one incremental cycle x polls per hour + requests of one renewal x renewals per "
        "hour; with notifications the poll is the safety net (Connection notifications.pollInterval)"
    )
    return result


@dataclass
class EwsFigures:
    rooms: int
    lags: list[float]
    poll_per_room: float  # requests of one incremental cycle, per room
    open_requests: int  # requests of one streaming connection opened (for every room: one group)
    connections: int

    def per_hour(self, poll: timedelta) -> float:
        """Safety-net polls plus the streaming connection re-opened every CONNECTION_MINUTES (shared by the rooms)."""
        reopen = self.open_requests * 60 / CONNECTION_MINUTES / self.rooms
        return self.poll_per_room * timedelta(hours=1) / poll + reopen

    def pull_per_hour(self, every: timedelta) -> float:
        """Pull subscriptions instead: one GetEvents per room per pull, beside the safety-net poll's reads."""
        return timedelta(hours=1) / every + self.poll_per_room * timedelta(hours=1) / DEFAULT_POLL_INTERVAL


async def _ews(ctx: Context, rooms: int, changes: int, spacing: float) -> EwsFigures:
    """The same probe with the rooms on Exchange on-premises: streaming subscriptions, one connection for all."""
    async with _notified_world(ctx, rooms, "ews") as (world, worker, _):
        assert world.runner is not None
        client = next(c for c in world.pool.clients() if c.backend == "ews")
        push: Any = client.push  # type: ignore[attr-defined]
        assert worker.receiver is not None
        push.sink = worker.receiver.local
        keeper = ChannelKeeper(CALENDAR, "ews", ROOMSYNC)
        settings = await worker.settings(CALENDAR, "ews")
        assert settings is not None
        calendars = [r.calendar for r in world.runner.config.rooms]
        await keeper.keep(push, settings, calendars, datetime.now(UTC))
        admin: Any = world.graph
        await _streaming(admin, rooms)
        ctx.say("notify: EWS lag with streaming, 5-minute safety-net poll")
        lags = await _lag(ctx, world, worker, SAFETY_NET.total_seconds(), changes, spacing, "ews")
        await world.reset_counters()
        await world.runner.cycle(datetime.now(UTC))
        idle = await world.traffic()
        poll_per_room = (idle.ews_total + idle.planon_total) / rooms
        await world.reset_counters()
        await admin.drop_ews_streams()  # what every re-opened connection costs (a drop is one more read)
        await _streaming(admin, rooms)
        opened = await world.traffic()
        open_requests = opened.ews_total  # GetStreamingEvents and the new session's NTLM handshake legs
        connections = len((await admin.ews_streaming())["connections"])
        await keeper.close(push)
        ctx.step()
    return EwsFigures(rooms, lags, poll_per_room, open_requests, connections)


async def _streaming(admin: Any, rooms: int) -> None:
    """Until every room's subscription is carried by a connection."""
    async with asyncio.timeout(30):
        while True:
            state = await admin.ews_streaming()
            if sum(1 for s in state["subscriptions"] if s["connected"]) == rooms:
                return
            await asyncio.sleep(0.05)
