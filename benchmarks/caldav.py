"""7-8 on CalDAV: a real Radicale (its own process) and the Planon sandbox, one RoomSync (Planon in the lead).

Requests on the CalDAV side are what the connector counted in its Connection's ``RequestCounts`` (the interface the
metrics read), per room and operation; Planon's are counted by its sandbox. Radicale keeps its collections on a
tmpfs where there is one: the counts do not depend on the disk, the wall times do (Radicale fsyncs every write).

The floor: a server can only say what changed in a collection when that collection is asked, so a no-change cycle
costs at least one request per room; a change costs at least one write per room copy it touches.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.core import Context, Result
from benchmarks.sandboxes import PEOPLE, planon_seed, room_code, room_mailbox, slot
from roomsync.cli.sync_cmd import open_runners
from roomsync.config.bundle import Bundle, fill
from roomsync.config.manifests import Document
from roomsync.connectors.base import RequestCounts
from roomsync.sandbox.caldav import SERVICE_ACCOUNT, RadicaleServer
from roomsync.sandbox.caldav.people import People
from roomsync.sandbox.planon import PlanonSandbox
from roomsync.sync.runner import ClientPool, RoomSyncRunner

NAMESPACE = "bench"
PASSWORD = "bench-secret"
ZONE = "Europe/Amsterdam"
WRITES = ("PUT", "DELETE")
TMPFS = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _operations(counts: Counter[tuple[str, str, str]]) -> dict[str, int]:
    found: Counter[str] = Counter()
    for (_, operation, status), n in counts.items():
        found[f"{operation} {status}"] += n
    return dict(sorted(found.items()))


class CaldavWorld:
    """``rooms`` room calendars on Radicale, their Planon units, and the RoomSync over them as ``roomsync sync``
    opens it."""

    def __init__(self, rooms: int) -> None:
        self.rooms = rooms
        users = {SERVICE_ACCOUNT: PASSWORD, **{p.split("@")[0]: "pw" for p in PEOPLE}}
        self.radicale = RadicaleServer(users, failed_login_delay=0, folder=TMPFS)
        self.planon = PlanonSandbox(seed=planon_seed(rooms))
        self.pool = ClientPool()
        self.runner: RoomSyncRunner | None = None
        self.people: People | None = None
        self.day0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    async def __aenter__(self) -> CaldavWorld:
        await asyncio.to_thread(self.radicale.start)
        await self.planon.start()
        calendars = {}
        for i in range(self.rooms):
            calendars[room_mailbox(i)] = await asyncio.to_thread(
                self.radicale.make_calendar, room_mailbox(i), time_zone=ZONE
            )
        self.people = People(self.radicale, calendars, ZONE)
        docs = self._manifests(calendars)
        bundle = fill(Bundle(environ={}), [Document("benchmark", i, d) for i, d in enumerate(docs)])
        if not bundle.ok:
            raise RuntimeError("; ".join(str(p) for p in bundle.problems))
        runners, problems = await open_runners(bundle, self.pool, allow_mass_delete=False)
        if problems:
            raise RuntimeError("; ".join(problems))
        self.runner = runners[0]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.pool.aclose()
        await self.planon.stop()
        await asyncio.to_thread(self.radicale.stop)

    def _manifests(self, calendars: dict[str, str]) -> list[dict[str, Any]]:
        secrets = {**self.planon.demo_secrets(), ("caldav", "password"): PASSWORD}
        by_name: dict[str, dict[str, str]] = {}
        for (name, key), value in secrets.items():
            by_name.setdefault(name, {})[key] = value
        docs: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": n, "namespace": NAMESPACE}, "stringData": d}
            for n, d in sorted(by_name.items())
        ]
        caldav = {
            "url": self.radicale.url,
            "auth": {"basic": {"username": SERVICE_ACCOUNT, "secretRef": {"name": "caldav", "key": "password"}}},
            "calendars": [{"room": room, "url": url} for room, url in calendars.items()],
        }
        for name, spec in (("planon", {"planon": self.planon.connection_spec()}), ("rooms", {"caldav": caldav})):
            meta = {"name": name, "namespace": NAMESPACE}
            docs.append({"apiVersion": "roomsync.io/v1alpha1", "kind": "Connection", "metadata": meta, "spec": spec})
        rooms = [{"planon": room_code(i), "calendar": room_mailbox(i)} for i in range(self.rooms)]
        spec = {
            "planon": {"connectionRef": "planon"},
            "calendar": {"connectionRef": "rooms"},
            "leader": "Planon",
            "rooms": rooms,
            "window": {"past": "1d", "future": "90d"},
        }
        meta = {"name": "tower", "namespace": NAMESPACE, "generation": 1}
        docs.append({"apiVersion": "roomsync.io/v1alpha1", "kind": "RoomSync", "metadata": meta, "spec": spec})
        return docs

    @property
    def counts(self) -> RequestCounts:
        [client] = [c for c in self.pool.clients() if c.backend == "caldav"]
        return client.requests

    async def cycle(self, *, full: bool = False) -> dict[str, Any]:
        """One operator cycle with the CalDAV requests, Planon requests and writes it caused."""
        assert self.runner is not None
        self.counts.by_room.clear()
        await self.planon.admin.reset_requests()
        wall = time.perf_counter()
        result = await self.runner.cycle(datetime.now(UTC), force_full=full)
        wall = time.perf_counter() - wall
        if result.error is not None:
            raise RuntimeError(result.message)
        caldav = Counter(self.counts.by_room)
        planon = await self.planon.admin.requests()
        return {
            "caldav": sum(caldav.values()),
            "caldav writes": sum(n for (_, op, _), n in caldav.items() if op in WRITES),
            "caldav operations": _operations(caldav),
            "per room": Counter(room for (room, _, _), n in caldav.items() for _ in range(n)),
            "planon": sum(n for k, n in planon.items() if k != "token"),
            "planon writes": sum(n for k, n in planon.items() if k != "token" and not k.startswith("read/")),
            "actions": len(result.plan.actions) if result.plan else 0,
            "wall": wall,
        }


async def run(ctx: Context) -> list[Result]:
    rooms, per_room, k = (10, 5, 5) if ctx.quick else (50, 20, 20)
    async with CaldavWorld(rooms) as world:
        ctx.say(f"CalDAV: {rooms} rooms x {per_room} reservations from Planon into empty Radicale calendars")
        reservations = []
        for room in range(rooms):
            for index in range(per_room):
                start, end = slot(index, world.day0)
                reservations.append(
                    {
                        "unit": room_code(room),
                        "start": start.isoformat(),
                        "end": end.isoformat(),
                        "description": f"Meeting {room}-{index}",
                        "requestor": PEOPLE[(room + index) % len(PEOPLE)],
                    }
                )
        await world.planon.admin.seed({"reservations": reservations})
        steady = await _steady(world, rooms * per_room, repeats=2 if ctx.quick else 3)
        ctx.step()
        ctx.say("CalDAV: k changes each way, k meeting requests (Planon leads)")
        propagation = await _propagation(world, k)
        ctx.step()
    return [steady, propagation]


async def _steady(world: CaldavWorld, bookings: int, repeats: int) -> Result:
    result = Result("caldav-steady", "7. CalDAV (Radicale): initial sync, then no-change cycles against full reads")
    first = await world.cycle()
    settle = [await world.cycle() for _ in range(2)]
    incremental = [await world.cycle() for _ in range(repeats)]
    full = [await world.cycle(full=True) for _ in range(repeats)]
    rooms = world.rooms

    def row(name: str, cycles: list[dict[str, Any]]) -> dict[str, Any]:
        last = cycles[-1]
        return {
            "cycle": name,
            "CalDAV requests": last["caldav"],
            "CalDAV / room": round(last["caldav"] / rooms, 2),
            "Planon requests": last["planon"],
            "writes": last["caldav writes"] + last["planon writes"],
            "wall s (median)": round(statistics.median(c["wall"] for c in cycles), 3),
            "CalDAV operations": ", ".join(f"{op}: {n}" for op, n in last["caldav operations"].items()),
        }

    result.table = [
        row("initial (creates)", [first]),
        row("incremental (sync-collection)", incremental),
        row("full-window read (baseline)", full),
    ]
    result.figures.update(
        {
            "rooms x bookings": f"{rooms} x {bookings // rooms}",
            "Radicale storage": "tmpfs" if TMPFS else "disk",
            "floor": "1 request per room per no-change cycle; 1 PUT per room copy created",
        }
    )
    created = first["caldav operations"].get("PUT 201", 0)
    result.check("every reservation created in a room calendar (PUT 201)", created, "==", bookings)
    result.check("CalDAV writes in the cycles after the initial sync", sum(c["caldav writes"] for c in settle), "==", 0)
    worst = max(max(c["per room"].values()) for c in incremental)
    result.check(f"CalDAV requests per room per no-change cycle (worst room of {repeats} cycles)", worst, "<=", 1)
    only_sync = all(set(c["caldav operations"]) == {"REPORT sync-collection 207"} for c in incremental)
    result.check("no-change cycles send only sync-collection REPORTs (1 = yes)", int(only_sync), "==", 1)
    result.check(
        f"writes in {repeats} incremental cycles",
        sum(c["caldav writes"] + c["planon writes"] for c in incremental),
        "==",
        0,
    )
    result.check(
        f"writes in {repeats} full-read cycles", sum(c["caldav writes"] + c["planon writes"] for c in full), "==", 0
    )
    return result


async def _propagation(world: CaldavWorld, k: int) -> Result:
    result = Result("caldav-propagation", "8. CalDAV (Radicale): k changes -> k writes, then 0")
    assert world.people is not None
    rows = []

    async def measure(name: str, expect_caldav: int, expect_planon: int) -> None:
        cycle = await world.cycle()
        after = await world.cycle()
        rows.append(
            {
                "change": name,
                "CalDAV writes": cycle["caldav writes"],
                "Planon writes": cycle["planon writes"],
                "CalDAV requests": cycle["caldav"],
                "writes next cycle": after["caldav writes"] + after["planon writes"],
                "CalDAV requests next cycle": after["caldav"],
                "CalDAV operations": ", ".join(f"{op}: {n}" for op, n in cycle["caldav operations"].items()),
            }
        )
        result.check(f"{name}: CalDAV writes", cycle["caldav writes"], "==", expect_caldav)
        result.check(f"{name}: Planon writes", cycle["planon writes"], "==", expect_planon)
        result.check(f"{name}: writes in the next cycle", after["caldav writes"] + after["planon writes"], "==", 0)
        result.check(f"{name}: CalDAV requests in the next cycle (1 per room)", after["caldav"], "==", world.rooms)

    for room in range(k):  # renamed at a Planon touchpoint -> one PUT each, RoomSync's own write not fetched back
        [first] = (await world.planon.admin.reservations(room_code(room)))[:1]
        await world.planon.admin.edit(int(first["syscode"]), subject=f"{first['description']} (renamed in Planon)")
    await measure(f"{k} renamed in Planon", k, 0)

    for room in range(k):  # renamed in a CalDAV client -> one Planon update each, nothing written back
        [copy, *_] = await asyncio.to_thread(world.people.resources, room_mailbox(room))
        uid = str(copy.master["UID"])
        await asyncio.to_thread(world.people.edit, uid, subject=f"{copy.master['SUMMARY']} (renamed in a client)")
    await measure(f"{k} renamed in a calendar client", 0, k)

    day = world.day0 + timedelta(days=60)
    for room in range(k):  # requests to rooms Planon leads -> one Planon write and one PARTSTAT write each
        start, end = slot(room % 5, day)
        await asyncio.to_thread(
            world.people.book, PEOPLE[room % len(PEOPLE)], [room_mailbox(room)], f"Request {room}", start, end
        )
    await measure(f"{k} meeting requests (Planon leads)", k, k)
    result.table = rows
    result.notes.append(
        "a change costs one request per changed copy: the PUT (If-Match) for a Planon change, the PARTSTAT PUT for a "
        "request Planon accepts; a change made in a client is fetched with one calendar-multiget per room it touched"
    )
    return result
