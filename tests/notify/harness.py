"""The notification path of the operator without Kubernetes, around a scenario :class:`~tests.scenarios.world.World`.

What the operator's worker and router do, done by the same product pieces: the receiver
(:class:`~roomsync.sync.notify.receiver.Receiver`) served over HTTPS with a test CA the sandboxes trust, each
RoomSync's :class:`~roomsync.sync.notify.keeper.ChannelKeeper` on the calendar side, the Planon sandbox's Event
Connector app calling the trigger endpoint, and a router that records which rooms of which RoomSync were woken.
:meth:`Notified.sync` then runs the cycles a worker would: narrowed to the woken rooms, through ``RoomSyncRunner``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import trustme
from aiohttp import web

from roomsync.connectors.push import NoticeKind, PushChannels
from roomsync.sandbox.planon.event_connector import CONNECTOR_KEY
from roomsync.sync.cycle import CycleResult
from roomsync.sync.notify.addresses import CONNECTION, Address, ConnectionKey
from roomsync.sync.notify.keeper import ChannelKeeper
from roomsync.sync.notify.receiver import Receiver, Wake
from roomsync.sync.notify.settings import ACTIVE, NotifySettings
from roomsync.sync.status import cycle_status
from tests.scenarios.world import World

KEY = b"a notification key of the scenario world"
PLANON_TOKEN = "planon-event-connector-token"
NAMESPACE = "scenarios"
CALENDAR = ConnectionKey(CONNECTION, NAMESPACE, "calendar")
PLANON = ConnectionKey(CONNECTION, NAMESPACE, "planon")


class Notified:
    def __init__(self, world: World, *, planon: bool = True) -> None:
        self.world = world
        self.planon = planon
        self.counts: Counter[tuple[str, str]] = Counter()
        self.woken: dict[str, set[str]] = {}
        self.resubscribe: dict[str, set[str]] = {}
        self.keepers: dict[str, ChannelKeeper] = {}
        self.changed = asyncio.Event()
        self.ca = trustme.CA()
        self.base = ""
        self._runner: web.AppRunner | None = None

    @property
    def backend(self) -> str:
        return self.world.calendar.name

    # -- lifecycle ----------------------------------------------------------------------------------------------
    async def start(self) -> Notified:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1").configure_cert(context)
        self.receiver = Receiver(self.settings, self, self.count)
        self._runner = web.AppRunner(self.receiver.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        self.base = f"https://127.0.0.1:{self._runner.addresses[0][1]}/notifications"
        ca = self.ca.cert_pem.bytes().decode()
        sandbox: Any = self.world.calendar.sandbox  # type: ignore[attr-defined]
        if self.backend != "ews":  # EWS streams down a connection the client holds: nothing is delivered here
            outbound = sandbox.state.notifications if self.backend == "graph" else sandbox.state.push.outbound
            outbound.trust(ca)
        for name in self.world.runners:
            self.keepers[name] = ChannelKeeper(CALENDAR, self.backend, (NAMESPACE, name))
        await self.keep()
        if self.planon:
            url = Address.trigger(PLANON).url(self.base)
            async with aiohttp.ClientSession() as session:
                body = {"url": url, "token": PLANON_TOKEN, "ca": ca}
                async with session.put(f"{self.world.planon.root_url}/_admin/event-connector", json=body) as answer:
                    assert answer.status == 200, await answer.text()
        return self

    def client_context(self) -> ssl.SSLContext:
        """What a client of the receiver (a forger, in tests) trusts."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def now(self) -> datetime:
        """The calendar's own clock (the Graph sandbox lives on the world's day, Google's on today)."""
        sandbox: Any = self.world.calendar.sandbox  # type: ignore[attr-defined]
        if self.backend in ("graph", "ews"):
            now: datetime = sandbox.state.calendars.now()
            return now
        return datetime.now(UTC)

    def push(self) -> PushChannels:
        client = next(c for c in self.world.pool.clients() if c.backend == self.backend)
        push: PushChannels = client.push  # type: ignore[attr-defined]
        if hasattr(push, "sink"):  # EWS streaming: what the operator does, delivered to the same router
            push.sink = self.receiver.local
        return push

    async def keep(self, now: datetime | None = None) -> set[str]:
        """Each RoomSync's keeper pass (the operator runs it after every cycle); the calendars newly subscribed."""
        fresh: set[str] = set()
        settings = await self.settings(CALENDAR, self.backend)
        assert settings is not None
        for name, keeper in self.keepers.items():
            calendars = [r.calendar for r in self.world.runners[name].config.rooms]
            fresh |= await keeper.keep(self.push(), settings, calendars, now or self.now())
        return fresh

    # -- what the operator supplies -----------------------------------------------------------------------------
    async def settings(self, connection: ConnectionKey, backend: str) -> NotifySettings | None:
        if connection == PLANON and backend == "planon" and self.planon:
            return NotifySettings(True, ACTIVE, "", None, PLANON_TOKEN.encode(), timedelta(minutes=5))
        if connection == CALENDAR and backend == self.backend:
            return NotifySettings(True, ACTIVE, "", self.base, KEY, timedelta(minutes=5))
        return None

    def count(self, backend: str, outcome: str, count: int = 1) -> None:
        self.counts[(backend, outcome)] += count

    async def deliver(self, wake: Wake) -> int:
        targets: dict[str, set[str]] = {}
        for name, runner in self.world.runners.items():
            rooms = runner.config.rooms
            if wake.roomsync is None:
                found = {r.planon for r in rooms if not wake.units or r.planon in wake.units}
            elif wake.roomsync == (NAMESPACE, name):
                found = {r.planon for r in rooms if r.calendar == wake.calendar}
            else:
                found = set()
            if found:
                targets[name] = found
                if wake.kind is NoticeKind.RESUBSCRIBE and wake.calendar:
                    self.keepers[name].resubscribe.add(wake.calendar)
        for name, rooms in targets.items():
            self.woken.setdefault(name, set()).update(rooms)
        self.changed.set()
        return len(targets)

    # -- driving ------------------------------------------------------------------------------------------------
    async def settled(self) -> None:
        """Wait until every sandbox has delivered what it had to send (bounded: a test never hangs)."""
        sandbox: Any = self.world.calendar.sandbox  # type: ignore[attr-defined]
        planon_app = self.world.planon._runner.app  # type: ignore[union-attr]
        async with asyncio.timeout(10):
            if self.backend == "ews":
                await self._streamed(sandbox)
            else:
                outbound = (
                    sandbox.state.notifications.outbound if self.backend == "graph" else sandbox.state.push.outbound
                )
                await outbound.idle()
            await planon_app[CONNECTOR_KEY].outbound.idle()

    async def _streamed(self, sandbox: Any) -> None:
        """EWS: every queued event written down a connection, read by the client and its pokes delivered."""
        streaming, push = sandbox.ews.streaming, self.push()
        while True:  # the sandbox's own bookkeeping: no event to wait on across the connection
            written = not any(s.queue for s in streaming.subscriptions.values())
            if written and push.received >= streaming.sent:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.01)
        await push.settled()  # type: ignore[attr-defined]

    async def woken_rooms(self, *expected: str) -> set[str]:
        """Wait until the rooms ``expected`` (room keys) have been woken; every room woken so far."""
        async with asyncio.timeout(10):
            while not set(expected) <= self.all_woken():
                self.changed.clear()
                await self.changed.wait()
        return self.all_woken()

    def all_woken(self) -> set[str]:
        return {room for rooms in self.woken.values() for room in rooms}

    async def sync(self, now: datetime | None = None) -> dict[str, CycleResult]:
        """The cycles a worker runs when notifications woke it: each RoomSync reads only its woken rooms."""
        woken, self.woken = self.woken, {}
        results = {}
        for name, rooms in woken.items():
            runner = self.world.runners[name]
            result = await runner.cycle(now or self.world.now, changed_rooms=rooms)
            self.world.statuses[name] = cycle_status(
                self.world.statuses.get(name), result, self.world.now, runner.config.generation
            )
            results[name] = result
        self.world.history.append(results)
        return results

    async def channels(self) -> list[dict[str, Any]]:
        """The sandbox's live subscriptions (Graph, EWS) or channels (Google)."""
        sandbox: Any = self.world.calendar.sandbox  # type: ignore[attr-defined]
        if self.backend == "ews":
            return [{"id": s.id, "mailbox": s.mailbox} for s in sandbox.ews.streaming.subscriptions.values()]
        if self.backend == "graph":
            return [s.to_json() | {"mailbox": s.mailbox} for s in sandbox.state.notifications.subscriptions.values()]
        return [
            c.to_json() | {"calendar": c.calendar, "address": c.address} for c in sandbox.state.push.channels.values()
        ]
