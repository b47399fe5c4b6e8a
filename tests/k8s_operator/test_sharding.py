"""Replicas sharing the RoomSyncs through shard Leases (``coordination.k8s.io/v1``), against the Kubernetes emulator.

Several operators, each with its own identity, run in this test's event loop (looptime: lease periods and sync
intervals cost no wall time). The memory backend logs every write to Planon and the calendar with the client that
made it; each client belongs to one replica's client pool, so every write is attributed to a replica. Status writes
are attributed by the User-Agent each replica sends (``roomsync/<version> (<identity>)``). Timings are client-go's
defaults: lease duration 15 s, renew deadline 10 s, retry period 2 s.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import re
import threading
import time
from collections import Counter
from datetime import timedelta
from types import TracebackType
from typing import Any

import kmock
import pytest

from roomsync.k8s import tasks
from roomsync.k8s.controller import Controller
from roomsync.k8s.main import Operator
from roomsync.k8s.sharding import Ownership, ShardElector, ShardingOptions, roomsync_key, shard_of
from roomsync.model import Side
from tests.helpers import booking
from tests.k8s_operator import memory_backend
from tests.k8s_operator.conftest import (
    CLUSTER_NS,
    CONNECTIONS,
    NS,
    PLANON_URL,
    ROOMSYNCS,
    TENANT,
    condition,
    create,
    delete,
    eventually,
    loop_clock,
    new_operator,
    roomsync,
    setup_connections,
)
from tests.k8s_operator.emulator import LEASES, ApiServer

pytestmark = [pytest.mark.looptime]

DURATION, DEADLINE, RETRY = 15, 10.0, 2.0
POLL = 0.1  # how often the tests look at the Leases
AGENT = re.compile(r"\(([^()]+)\)$")


def sharding(identity: str, shards: int) -> ShardingOptions:
    return ShardingOptions(
        name="roomsync",
        namespace=CLUSTER_NS,
        identity=identity,
        shards=shards,
        lease_duration=DURATION,
        renew_deadline=DEADLINE,
        retry_period=RETRY,
    )


class Replicas:
    """Operators sharing one lease set, started, stopped and killed by identity."""

    def __init__(self, api: ApiServer) -> None:
        self.api = api
        self.clock = loop_clock()
        self.running: dict[str, Operator] = {}
        self._owners: dict[int, str] = {}  # id(client) -> identity of the replica whose pool holds it

    async def start(self, identity: str, *, shards: int = 8, **options: Any) -> Operator:
        op = new_operator(self.api, self.clock, lease_thread=False, sharding=sharding(identity, shards), **options)
        await op.start()
        try:
            await op.wait_ready(30)
        except BaseException:
            await op.stop()
            raise
        self.running[identity] = op
        return op

    async def stop(self, identity: str) -> None:
        """A graceful stop (SIGTERM): workers finish, Leases are released."""
        self._note_clients()
        await self.running.pop(identity).stop()

    async def kill(self, identity: str) -> None:
        """What SIGKILL leaves: the replica writes nothing more, to the API server or the backends, and its Leases
        stay as they were until they expire."""
        self._note_clients()
        op = self.running.pop(identity)
        assert isinstance(op.elector, ShardElector)
        # kopf, cancelled without its stop flag, would SIGKILL this whole test process a while later (its "ultimate
        # exiting timeout"); the flag only tells kopf so, it is not waited for: everything is cancelled right away.
        op.stop_flag.set()
        handing_over = [held.handing_over for held in op.elector.held.values() if held.handing_over is not None]
        doomed = {*(task for task, _ in op.controller.tasks.values()), *op.elector.tasks, *handing_over}
        doomed |= {op._task} if op._task else set()
        # kopf's finalisers (a watcher waiting for its workers to deplete, its scheduler closing) create new tasks
        # and shield them from one cancellation; a killed process runs none of them: cancel, again, until none is left.
        while live := {task for task in {*doomed, *tasks.kopf_tasks(op)} if not task.done()}:
            for task in live:
                task.cancel()
            await asyncio.wait(live, timeout=0.1)
        await op.api.aclose()  # a dead process's connections close too
        await op.servers.aclose()

    def writer(self, write: memory_backend.Write) -> str:
        self._note_clients()
        return self._owners[id(write.client)]

    def replica_of(self, client: object) -> str | None:
        self._note_clients()
        return self._owners.get(id(client))

    def _note_clients(self) -> None:
        for identity, op in self.running.items():
            for client in op.controller.pool.clients():
                self._owners[id(client)] = identity

    async def __aenter__(self) -> Replicas:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for identity in list(self.running):
            await self.stop(identity)


# -- the estate -------------------------------------------------------------------------------------------------------
def stores() -> tuple[Any, Any]:
    return memory_backend.system(PLANON_URL, Side.PLANON), memory_backend.system(TENANT, Side.CALENDAR)


def one_room(i: int, **spec: Any) -> dict[str, Any]:
    return roomsync(f"rs-{i}", rooms=[{"planon": f"MR-{i}", "calendar": f"mr-{i}@contoso.com"}], **spec)


async def estate(api: ApiServer, count: int, **spec: Any) -> tuple[Any, Any]:
    """``count`` RoomSyncs of one room each, every room with one reservation made in Planon."""
    planon, calendar = stores()
    await setup_connections(api)
    for i in range(count):
        planon.put(booking(f"p-{i}", 9, subject=f"Meeting {i}", rooms=(f"MR-{i}",)))
        await create(api, ROOMSYNCS, one_room(i, **spec))
    return planon, calendar


async def replicas_then_estate(
    api: ApiServer, replicas: Replicas, identities: tuple[str, ...], count: int, *, shards: int = 8, **spec: Any
) -> tuple[Any, Any]:
    """Start the replicas, let them share the shards, then create the estate: each RoomSync is synced from the
    start by the replica that keeps it (a replica started alone first takes every shard, then hands some over)."""
    for identity in identities:
        await replicas.start(identity, shards=shards)
    await eventually(lambda: settled(api, shards, set(identities)), seconds=60)
    stores = await estate(api, count, **spec)
    await eventually(lambda: synced(api, count), seconds=120)
    return stores


def synced(api: ApiServer, count: int) -> bool:
    return all(
        (c := condition(api.read(ROOMSYNCS, NS, f"rs-{i}"))) is not None and c["reason"] == "Synced"
        for i in range(count)
    )


def in_calendar(calendar: Any, room: int) -> list[str]:
    return sorted(b.subject for b in calendar.live() if f"MR-{room}" in b.rooms)


def shard_leases(api: ApiServer) -> dict[int, dict[str, Any]]:
    found = {}
    for (resource, namespace, _), obj in api.objects.items():
        if resource == kmock.resource(LEASES) and namespace == CLUSTER_NS and not obj.deleted:
            labels = obj.raw["metadata"].get("labels") or {}
            if labels.get("roomsync.io/lease-role") == "shard":
                found[int(labels["roomsync.io/shard"])] = obj.raw
    return found


def holders(api: ApiServer) -> dict[int, str | None]:
    return {shard: lease["spec"].get("holderIdentity") for shard, lease in shard_leases(api).items()}


def member_leases(api: ApiServer) -> list[str]:
    return [
        name
        for (resource, namespace, name), obj in api.objects.items()
        if resource == kmock.resource(LEASES) and not obj.deleted and "-member-" in name
    ]


def settled(api: ApiServer, shards: int, identities: set[str]) -> bool:
    """Every shard held, by the given replicas only, none above its fair share."""
    held = holders(api)
    share = -(-shards // len(identities))
    counts = Counter(held.values())
    return len(held) == shards and set(counts) == identities and max(counts.values()) <= share


def shard_of_roomsync(i: int, shards: int) -> int:
    return shard_of(f"{NS}/rs-{i}", shards)


def writes(replicas: Replicas, room: int, *, side: Side | None = None, operation: str | None = None) -> list[Any]:
    """(loop time, replica, side, operation) of every write for the RoomSync of ``room``, oldest first."""
    return [
        (w.at, replicas.writer(w), w.side, w.operation)
        for w in memory_backend.WRITES
        if w.rooms == {f"MR-{room}"} and side in (None, w.side) and operation in (None, w.operation)
    ]


def status_writers(api: ApiServer, plural: str, name: str) -> list[str]:
    """The replicas that wrote this object's status, in order (from their User-Agent)."""
    found = []
    for method, path, agent in api.log:
        if method == "PATCH" and path.endswith(f"/{plural}/{name}/status"):
            match = AGENT.search(agent)
            found.append(match.group(1) if match else "?")
    return found


def one_writer_at_a_time(sequence: list[Any]) -> bool:
    """The writers of one RoomSync, in time order, change at most once: never two replicas interleaved."""
    writers = [who for _, who, *_ in sequence]
    changes = sum(1 for a, b in itertools.pairwise(writers) if a != b)
    return changes <= 1


# -- the tests --------------------------------------------------------------------------------------------------------
async def test_replicas_share_the_roomsyncs_and_each_is_synced_by_exactly_one(api):
    async with Replicas(api) as replicas:
        _, calendar = await replicas_then_estate(api, replicas, ("r1", "r2", "r3"), 12)
        held = holders(api)
        metrics = {who: op.metrics.shards_held._value.get() for who, op in replicas.running.items()}
        runners = {
            i: {who for who, op in replicas.running.items() if op.controller.runs(NS, f"rs-{i}")} for i in range(12)
        }
    assert sorted(Counter(held.values()).values()) == [2, 3, 3]  # 8 shards, 3 replicas: ceil(8 / 3) = 3 at most
    assert metrics == dict(Counter(held.values()))
    for i in range(12):
        owner = held[shard_of_roomsync(i, 8)]
        assert {who for _, who, *_ in writes(replicas, i)} == {owner}, f"rs-{i} is written by its shard's holder only"
        assert len(writes(replicas, i, side=Side.CALENDAR, operation="create")) == 1
        assert in_calendar(calendar, i) == [f"Meeting {i}"]
        assert set(status_writers(api, "roomsyncs", f"rs-{i}")) == {owner}
        assert runners[i] == {owner}, "exactly one replica says it runs the RoomSync: its shard's holder"


async def test_a_killed_replica_s_roomsyncs_move_within_one_lease_period_nothing_duplicated_or_lost(api, looptime):
    async with Replicas(api) as replicas:
        planon, calendar = await replicas_then_estate(api, replicas, ("r1", "r2", "r3"), 12)
        orphaned = [shard for shard, who in holders(api).items() if who == "r1"]
        killed_at = float(looptime)
        await replicas.kill("r1")
        for i in range(12):  # people keep booking while the replica is dead
            planon.put(booking(f"q-{i}", 14, subject=f"After {i}", rooms=(f"MR-{i}",)))
        await eventually(lambda: all(holders(api)[s] in ("r2", "r3") for s in orphaned), seconds=60, step=POLL)
        took = float(looptime) - killed_at
        await eventually(lambda: all(len(in_calendar(calendar, i)) == 2 for i in range(12)), seconds=180)
        await asyncio.sleep(70)  # one more interval: nothing more is written
        after = holders(api)
        assert settled(api, 8, {"r2", "r3"})
    # Not before the Lease could have expired (r1 renewed at most one retry period before it died), and at most one
    # lease duration after, plus a retry period to notice the expiry and one to take the shard.
    assert DURATION - RETRY <= took <= DURATION + 2 * RETRY + POLL  # POLL: how often this test looks
    assert sorted(Counter(after.values()).values()) == [4, 4]
    for i in range(12):
        sequence = writes(replicas, i)
        assert in_calendar(calendar, i) == [f"After {i}", f"Meeting {i}"], "nothing lost"
        assert len(writes(replicas, i, side=Side.CALENDAR, operation="create")) == 2, "nothing duplicated"
        assert not [w for w in sequence if w[1] == "r1" and w[0] >= killed_at]
        assert {who for at, who, *_ in sequence if at >= killed_at} == {after[shard_of_roomsync(i, 8)]}
        assert one_writer_at_a_time(sequence)


async def test_a_member_lease_moved_on_unseen_is_still_deleted_on_the_way_out(api):
    """A renewal whose write landed but whose answer was lost leaves the replica with a stale version of its member
    Lease: stopping reads it again and deletes it, rather than leaving it to expire (the others would count one
    replica too many meanwhile)."""
    async with Replicas(api) as replicas:
        await replicas.start("r1", shards=4)
        await eventually(lambda: settled(api, 4, {"r1"}), seconds=30, step=POLL)
        (name,) = member_leases(api)
        url = f"/apis/{LEASES.rsplit('/', 1)[0]}/namespaces/{CLUSTER_NS}/leases/{name}"
        change = {"metadata": {"annotations": {"renewed": "but the answer was lost"}}}
        headers = {"Content-Type": "application/merge-patch+json"}
        async with api.patch(url, json=change, headers=headers) as response:
            assert response.status == 200, await response.text()
        await replicas.stop("r1")
    assert member_leases(api) == []


async def test_a_graceful_stop_releases_the_leases_at_once(api, looptime):
    async with Replicas(api) as replicas:
        planon, calendar = await replicas_then_estate(api, replicas, ("r1", "r2"), 6, shards=4)
        given_up = [shard for shard, who in holders(api).items() if who == "r1"]
        await replicas.stop("r1")
        stopped_at = float(looptime)
        released = holders(api)
        members = member_leases(api)
        for i in range(6):
            planon.put(booking(f"q-{i}", 14, subject=f"After {i}", rooms=(f"MR-{i}",)))
        await eventually(lambda: settled(api, 4, {"r2"}), seconds=60, step=POLL)
        took = float(looptime) - stopped_at
        await eventually(lambda: all(len(in_calendar(calendar, i)) == 2 for i in range(6)), seconds=180)
    assert all(released[shard] is None for shard in given_up), "released on the way out, not left to expire"
    assert len(members) == 1, "the stopped replica's member Lease is deleted: the others count one replica fewer"
    assert took <= 2 * RETRY + POLL < DURATION  # one round to see the release, one to take it
    for i in range(6):
        assert len(writes(replicas, i, side=Side.CALENDAR, operation="create")) == 2
        assert {who for _, who, *_ in writes(replicas, i)[1:]} <= {"r1", "r2"}
        assert one_writer_at_a_time(writes(replicas, i))


async def test_a_replica_that_cannot_renew_stops_its_workers_before_its_lease_expires(api, looptime):
    async with Replicas(api) as replicas:
        planon, calendar = await replicas_then_estate(api, replicas, ("r1", "r2"), 6, shards=4, interval="10s")
        r1 = replicas.running["r1"]
        cut_off = [shard for shard, who in holders(api).items() if who == "r1"]
        moved = [i for i in range(6) if shard_of_roomsync(i, 4) in cut_off]

        async def people_keep_booking() -> None:
            for n in range(12):
                for i in range(6):
                    planon.put(booking(f"b-{n}-{i}", 8 + n % 10, day=1 + n // 10, subject=f"B{n}", rooms=(f"MR-{i}",)))
                await asyncio.sleep(5)

        booking_task = asyncio.create_task(people_keep_booking())
        await asyncio.sleep(7)
        api.unreachable.add("r1")  # r1 can reach Planon and the calendar, but no longer the API server
        partitioned_at = float(looptime)
        await eventually(lambda: not r1.elector.held, seconds=30, step=POLL)
        gave_up = float(looptime) - partitioned_at
        await eventually(lambda: settled(api, 4, {"r2"}), seconds=60, step=POLL)
        await booking_task
        await eventually(lambda: all(len(in_calendar(calendar, i)) == 13 for i in range(6)), seconds=120)
        api.unreachable.clear()
    assert moved, "r1 held shards with RoomSyncs in them"
    assert gave_up <= DEADLINE  # its last renewal was before the partition
    for i in moved:
        sequence = writes(replicas, i)
        last_by_r1 = max(at for at, who, *_ in sequence if who == "r1")
        first_by_r2 = min(at for at, who, *_ in sequence if who == "r2")
        assert last_by_r1 <= partitioned_at + DEADLINE < partitioned_at + DURATION - RETRY <= first_by_r2
        assert one_writer_at_a_time(sequence)
    for i in range(6):
        creates = writes(replicas, i, side=Side.CALENDAR, operation="create")
        assert len(creates) == 13, f"rs-{i}: every reservation created exactly once"


async def test_a_joining_replica_takes_its_fair_share_without_flapping(api):
    planon, calendar = await estate(api, 8)
    async with Replicas(api) as replicas:
        await replicas.start("r1")
        await eventually(lambda: synced(api, 8) and settled(api, 8, {"r1"}), seconds=120)
        await replicas.start("r2")
        await eventually(lambda: settled(api, 8, {"r1", "r2"}), seconds=60)
        transitions = {shard: lease["spec"].get("leaseTransitions") for shard, lease in shard_leases(api).items()}
        for i in range(8):
            planon.put(booking(f"q-{i}", 14, subject=f"After {i}", rooms=(f"MR-{i}",)))
        await eventually(lambda: all(len(in_calendar(calendar, i)) == 2 for i in range(8)), seconds=180)
        await asyncio.sleep(20 * RETRY)
        later = {shard: lease["spec"].get("leaseTransitions") for shard, lease in shard_leases(api).items()}
        held = holders(api)
    assert sorted(Counter(held.values()).values()) == [4, 4]
    assert later == transitions, "once shared fairly, no shard changes hands again"
    assert sorted(transitions.values()) == [0] * 4 + [1] * 4  # four handed from r1 to r2, once each
    for i in range(8):
        assert {who for _, who, *_ in writes(replicas, i)[2:]} == {held[shard_of_roomsync(i, 8)]}
        assert len(writes(replicas, i, side=Side.CALENDAR, operation="create")) == 2
        assert one_writer_at_a_time(writes(replicas, i))


async def test_one_owner_per_room_holds_across_replicas(api):
    planon, calendar = stores()
    await setup_connections(api)
    planon.put(booking("p-1", 9, subject="Board", rooms=("MR-1",)))
    async with Replicas(api) as replicas:
        await replicas.start("r1")
        await replicas.start("r2")
        await eventually(lambda: settled(api, 8, {"r1", "r2"}), seconds=60)
        held = holders(api)
        names = [f"claim-{n}" for n in range(100)]
        first = next(n for n in names if held[shard_of(f"{NS}/{n}", 8)] == "r1")
        second = next(n for n in names if held[shard_of(f"{NS}/{n}", 8)] == "r2")
        rooms = [{"planon": "MR-1", "calendar": "mr-1@contoso.com"}]
        await create(api, ROOMSYNCS, roomsync(first, rooms=rooms))
        await eventually(lambda: (c := condition(api.read(ROOMSYNCS, NS, first))) and c["reason"] == "Synced")
        await create(api, ROOMSYNCS, roomsync(second, rooms=rooms))
        refused = await eventually(
            lambda: (c := condition(api.read(ROOMSYNCS, NS, second))) and c["reason"] == "RoomAlreadyClaimed" and c
        )
        await delete(api, ROOMSYNCS, first)
        await eventually(lambda: (c := condition(api.read(ROOMSYNCS, NS, second))) and c["reason"] == "Synced")
    assert first in refused["message"], "r2 refuses the room r1's RoomSync claimed first, though r1 runs that one"
    assert set(status_writers(api, "roomsyncs", first)) == {"r1"}
    assert set(status_writers(api, "roomsyncs", second)) == {"r2"}
    assert [b.subject for b in calendar.live()] == ["Board"]
    assert len([w for w in memory_backend.WRITES if w.side is Side.CALENDAR and w.operation == "create"]) == 1


async def test_connection_checks_run_once_across_replicas(api):
    async with Replicas(api) as replicas:
        for identity in ("r1", "r2", "r3"):
            await replicas.start(identity, connection_check_interval=timedelta(seconds=20))
        await eventually(lambda: settled(api, 8, {"r1", "r2", "r3"}), seconds=60)
        await estate(api, 3)
        await eventually(lambda: synced(api, 3), seconds=120)
        await asyncio.sleep(100)  # five check intervals
        held = holders(api)
        room_listings = Counter(
            replicas.replica_of(client)
            for client in memory_backend.CLIENTS
            for (operation, _), count in client.requests.by_operation().items()
            if operation == "rooms"
            for _ in range(count)
        )
    exchange_holder = held[shard_of(f"Connection/{NS}/exchange", 8)]
    assert set(room_listings) == {exchange_holder}  # the Graph side lists rooms; only its check's replica asks
    assert room_listings[exchange_holder] >= 5
    for name in ("planon", "exchange"):
        owner = held[shard_of(f"Connection/{NS}/{name}", 8)]
        written = Counter(status_writers(api, "connections", name))
        assert written[owner] >= 5, f"{name}: the periodic check is its shard holder's"
        users = {held[shard_of_roomsync(i, 8)] for i in range(3)}
        assert set(written) <= {owner} | users, "others write only what their own cycles learnt"
    assert condition(api.read(CONNECTIONS, NS, "exchange"))["status"] == "True"


async def test_replicas_with_another_shard_count_take_nothing_until_the_old_ones_are_gone(api):
    await estate(api, 4)
    async with Replicas(api) as replicas:
        await replicas.start("old", shards=4)
        await eventually(lambda: synced(api, 4) and settled(api, 4, {"old"}), seconds=120)
        new = await replicas.start("new", shards=8)
        await asyncio.sleep(10 * RETRY)
        assert not new.elector.held, "8 shards map RoomSyncs differently from 4: wait"
        await replicas.stop("old")
        await eventually(lambda: len(new.elector.held) == 8, seconds=30)
        await eventually(lambda: synced(api, 4))
    assert new.elector.members == 1


async def test_the_finalizer_of_the_former_peering_mode_is_removed(api):
    await setup_connections(api)
    body = roomsync()
    body["metadata"]["finalizers"] = ["roomsync.io/finalizer"]  # what kopf's daemons put on under --peering
    await create(api, ROOMSYNCS, body)
    async with Replicas(api) as replicas:
        await replicas.start("r1")
        await eventually(lambda: not api.read(ROOMSYNCS, NS, "hq")["metadata"].get("finalizers"), seconds=30)
        await delete(api, ROOMSYNCS, "hq")
        await eventually(lambda: api.read(ROOMSYNCS, NS, "hq") is None, seconds=30)


async def test_a_lost_shard_cancels_workers_still_finishing_a_cycle_after_being_told_to_stop():
    """A hand-over (or shutdown) lets a running cycle finish while the Lease is renewed; if the renewals fail
    meanwhile, the cycle is cancelled at the renew deadline like any other, not left to write past it."""
    controller = Controller(kube=None, ownership=Ownership(shards=4))  # type: ignore[arg-type]  # no API call made
    key = (NS, "rs-0")
    shard = shard_of(roomsync_key(*key), 4)
    controller.ownership.held.add(shard)
    cycle_running = asyncio.Event()

    async def long_cycle(stop: Any) -> None:  # ignores the stop request, as a cycle in flight does
        cycle_running.set()
        await asyncio.sleep(3600)

    controller._start(key, long_cycle)
    await cycle_running.wait()
    handing_over = asyncio.create_task(controller.shard_handed_over(shard))
    await asyncio.sleep(1)
    ((task, _),) = controller.stopping.values()
    assert not task.done() and not controller.tasks, "told to stop, still finishing its cycle"
    await controller.shard_lost(shard)
    assert task.cancelled() and not controller.stopping
    await handing_over
    assert not controller.runs(*key)


# -- the Lease keeper on its own thread (real time: a second event loop has no share in looptime's fake time) ---------
BLOCK = 3.0  # seconds the operator's main loop is kept busy: longer than the lease duration below
FAST = {"lease_duration": 2, "renew_deadline": 1.5, "retry_period": 0.25}


class OperatorOnItsOwnLoop:
    """A replica whose main event loop runs on a thread of its own, so that the test can keep that loop busy while
    the API server emulator (on the test's loop) goes on answering and the test watches the Leases."""

    def __init__(self, api: ApiServer, identity: str, *, shards: int, lease_thread: bool) -> None:
        self.options = ShardingOptions(name="roomsync", namespace=CLUSTER_NS, identity=identity, shards=shards, **FAST)
        self.api, self.lease_thread = api, lease_thread
        self.ready, self.done = threading.Event(), concurrent.futures.Future[None]()
        self.thread = threading.Thread(target=self._run, name=f"operator {identity}", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:
            self.done.set_exception(error)
        else:
            self.done.set_result(None)
        finally:
            self.ready.set()

    async def _main(self) -> None:
        self.loop, self.stopping = asyncio.get_running_loop(), asyncio.Event()
        self.op = new_operator(self.api, sharding=self.options, lease_thread=self.lease_thread)
        async with self.op:
            self.ready.set()
            await self.stopping.wait()

    def keep_busy(self, seconds: float, finished: threading.Event) -> None:
        """Keep the operator's main loop busy (holding the GIL, as parsing and planning do) for ``seconds``."""

        def busy() -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                pass
            finished.set()

        self.loop.call_soon_threadsafe(busy)

    async def __aenter__(self) -> OperatorOnItsOwnLoop:
        self.thread.start()
        await asyncio.to_thread(self.ready.wait, 60)
        if self.done.done():
            self.done.result()  # raises why it did not start
        return self

    async def __aexit__(self, *_: object) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        await asyncio.wrap_future(self.done)


@pytest.mark.looptime(False)
@pytest.mark.parametrize("lease_thread", [True, False], ids=["own thread", "main loop"])
async def test_a_busy_main_loop_keeps_its_shards_when_the_leases_have_their_own_thread(api, lease_thread):
    await setup_connections(api)
    loop = asyncio.get_running_loop()
    async with OperatorOnItsOwnLoop(api, "r1", shards=4, lease_thread=lease_thread) as replica:
        await eventually(lambda: settled(api, 4, {"r1"}), seconds=30, step=0.05)
        seen = {shard: lease["metadata"]["resourceVersion"] for shard, lease in shard_leases(api).items()}
        renewed: dict[int, list[float]] = {shard: [] for shard in seen}  # when the test saw each renewal
        holders_seen: set[str | None] = set()
        finished = threading.Event()
        began = loop.time()
        replica.keep_busy(BLOCK, finished)
        while not finished.is_set():
            for shard, lease in shard_leases(api).items():
                holders_seen.add(lease["spec"].get("holderIdentity"))
                if lease["metadata"]["resourceVersion"] != seen[shard]:
                    seen[shard] = lease["metadata"]["resourceVersion"]
                    renewed[shard].append(loop.time())
            await asyncio.sleep(0.05)
        ended = loop.time()
        await asyncio.sleep(FAST["retry_period"] * 4)  # the main loop catches up with what the keeper decided
        lost = replica.op.metrics.shard_changes.labels("lost")._value.get()
        still_held = sorted(replica.op.elector.held) if replica.op.elector else []
        runs = sorted(replica.op.controller.ownership.held)
        keeper = getattr(replica.op.elector, "thread", None)
    gaps = [max(b - a for a, b in itertools.pairwise([began, *times, ended])) for times in renewed.values()]
    assert ended - began >= BLOCK, "the main loop was busy all along"
    if lease_thread:
        assert max(gaps) < FAST["lease_duration"], "renewed while the main loop was busy: no Lease could expire"
        assert holders_seen == {"r1"}
        assert lost == 0 and still_held == runs == [0, 1, 2, 3], "the replica kept its shards and their workers"
        assert keeper is not None and not keeper.is_alive(), "stopping the operator ends the keeper's thread"
    else:  # the failure this guards against: renewals wait for the busy loop, the renew deadline passes
        assert min(gaps) >= BLOCK - FAST["retry_period"], "no renewal while the main loop was busy"
        assert lost == 4
    assert set(holders(api).values()) == {None}, "released on the way out"
    assert member_leases(api) == []
