"""What all workers of one operator share: the client pool, metrics, events, who depends on what, who owns which room,
which RoomSyncs and Connection checks this replica runs (all, or those of the shards it holds), and the objects the
health page shows.

Connections and Secrets are watched only to wake the RoomSyncs and Connection checks that use them; their content is
read on demand (:mod:`roomsync.k8s.resolve`), so the operator never holds a copy of a Secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from roomsync.config.claims import Conflict, conflicts
from roomsync.config.references import DEFAULT_CLUSTER_NAMESPACE, Inputs
from roomsync.config.roomsync import RoomSyncConfig
from roomsync.k8s.connections import ConnectionCheck, Key
from roomsync.k8s.events import NORMAL, Decision, EventRecorder
from roomsync.k8s.kubeapi import Kube
from roomsync.k8s.metrics import Metrics
from roomsync.k8s.notifications import Notifications
from roomsync.k8s.sharding import Ownership, connection_key, roomsync_key
from roomsync.k8s.spec import plain
from roomsync.k8s.tasks import outside_kopf
from roomsync.k8s.worker import Stop, Worker
from roomsync.model import Side
from roomsync.sync.cycle import CycleResult
from roomsync.sync.notify.keeper import KeeperState
from roomsync.sync.notify.settings import Defaults
from roomsync.sync.runner import ClientPool

log = logging.getLogger(__name__)

#: Cycles running at once across all RoomSyncs of this operator (each cycle has its own concurrency inside).
DEFAULT_CONCURRENT_CYCLES = 16
#: How long stopping workers may take to finish a cycle and write its status.
STOP_GRACE_SECONDS = 30.0
#: How long cancelled workers of a lost shard are awaited (cancellation takes effect at their next await).
CANCEL_WAIT_SECONDS = 1.0


def utcnow() -> datetime:
    return datetime.now(UTC)


class Controller:
    def __init__(
        self,
        kube: Kube,
        *,
        pool: ClientPool | None = None,
        metrics: Metrics | None = None,
        events: EventRecorder | None = None,
        clock: Callable[[], datetime] = utcnow,
        concurrent_cycles: int = DEFAULT_CONCURRENT_CYCLES,
        cluster_namespace: str = DEFAULT_CLUSTER_NAMESPACE,
        check_interval: timedelta = timedelta(minutes=5),
        notification_defaults: Defaults | None = None,
        ownership: Ownership | None = None,
    ) -> None:
        self.kube = kube
        self.pool = pool or ClientPool()
        self.metrics = metrics or Metrics()
        self.events = events or EventRecorder(clock=clock)
        self.clock = clock
        self.cluster_namespace = cluster_namespace
        self.check_interval = check_interval
        self.ownership = ownership or Ownership()
        self.closing = False
        self.cycle_slots = asyncio.Semaphore(concurrent_cycles)
        self.workers: dict[tuple[str, str], Worker] = {}
        self.checks: dict[Key, ConnectionCheck] = {}
        self.tasks: dict[object, tuple[asyncio.Task[None], Stop]] = {}
        #: Tasks told to stop whose running cycle may still write: a lost shard cancels its own among them too.
        self.stopping: dict[object, tuple[asyncio.Task[None], Stop]] = {}
        #: The latest body of every RoomSync and Connection seen, for the health page.
        self.roomsyncs: dict[tuple[str, str], dict[str, Any]] = {}
        self.connections: dict[Key, dict[str, Any]] = {}
        self._indices: tuple[Any, Any, Any] | None = None
        self.notifications = Notifications(self, notification_defaults or Defaults(), self.metrics.registry)
        self._closing_channels: set[asyncio.Task[None]] = set()

    def worker(self, namespace: str, name: str) -> Worker:
        key = (namespace, name)
        if key not in self.workers:
            self.workers[key] = Worker(self, namespace, name)
        return self.workers[key]

    # -- watch events -------------------------------------------------------------------------------------------------
    def use_indices(self, roomsyncs: Any, connections: Any, cluster_connections: Any) -> None:
        """kopf's indices (live mappings), handed over by the first RoomSync event."""
        self._indices = (roomsyncs, connections, cluster_connections)

    def roomsync_event(self, body: Mapping[str, Any], type_: str | None) -> None:
        """Every watch event of a RoomSync (``type_`` None: the initial listing): start its worker if this replica
        runs it, wake it, or stop it."""
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        if type_ == "DELETED":
            self._stop(key)
            self.roomsync_deleted(body)
            self._wake_refused(f"RoomSync {key[0]}/{key[1]} was deleted")
            return
        previous = self.roomsyncs.get(key)
        if previous is not None and _generation(previous) != _generation(body):
            self._wake_refused(f"RoomSync {key[0]}/{key[1]} changed")
        self.roomsyncs[key] = plain(dict(body))
        worker = self.worker(*key)
        worker.notice(body)
        if key not in self.tasks and self._owns(key):
            self._start(key, lambda stop: worker.run(body, stop))

    def connection_event(self, kind: str, body: Mapping[str, Any], type_: str | None) -> None:
        meta = body.get("metadata") or {}
        key: Key = (kind, str(meta.get("namespace") or ""), str(meta.get("name")))
        previous = self.connections.get(key)
        changed = type_ is not None and (previous is None or _generation(previous) != _generation(body))
        if type_ == "DELETED":
            self._stop(key)
            self.checks.pop(key, None)
            self.connections.pop(key, None)
        else:
            self.connections[key] = plain(dict(body))
            check = self.checks.get(key)
            if check is None:  # on every replica: a cycle run here may learn something about the Connection
                check = self.checks[key] = ConnectionCheck(self, key)
            check.notice(body)
            if key not in self.tasks and self._owns(key):  # the check itself runs once, on the shard's holder
                self._start(key, check.run)
        if changed or type_ == "DELETED":  # not for our own status writes, nor the initial listing
            self.notifications.forget()
            for worker in self.workers.values():
                if worker.uses(kind, key[1], key[2]):
                    worker.invalidate(f"{kind} {key[2]} changed")

    def secret_changed(self, namespace: str, name: str) -> None:
        self.notifications.forget()
        in_cluster_namespace = namespace == self.cluster_namespace
        for worker in self.workers.values():
            depends = worker.depends
            if (worker.namespace == namespace and name in depends.secrets) or (
                in_cluster_namespace and name in depends.cluster_secrets
            ):
                worker.invalidate(f"Secret {name} changed")
        for check in self.checks.values():
            if check.secret_namespace == namespace and name in check.secrets:
                check.wake(f"Secret {name} changed")

    # -- one owner per room -------------------------------------------------------------------------------------------
    def configs(self) -> list[RoomSyncConfig]:
        """Every RoomSync this operator sees, as configured (invalid specs left out)."""
        if self._indices is None:
            return []
        return [c for store in self._indices[0].values() for c in store]

    def claim_conflicts(self, namespace: str, name: str) -> list[Conflict]:
        """The rooms of this RoomSync that an older RoomSync claimed first (see :mod:`roomsync.config.claims`)."""
        if self._indices is None:
            return []
        roomsyncs, connections, cluster_connections = self._indices

        def lookup(kind: str, ns: str, ref: str) -> Mapping[str, object] | None:
            index = cluster_connections if kind == "ClusterConnection" else connections
            found = list(index.get((kind, ns, ref), ()))
            return found[0] if found else None

        configs: list[RoomSyncConfig] = [c for store in roomsyncs.values() for c in store]
        return conflicts(configs, lookup).get(f"{namespace}/{name}", [])

    def _wake_refused(self, why: str) -> None:
        """A RoomSync went away or changed its rooms: those refused a room may own it now."""
        for worker in self.workers.values():
            if worker.refused_rooms:
                worker.wake(why)

    # -- what cycles tell about Connections ---------------------------------------------------------------------------
    async def cycle_observed(self, inputs: Inputs, result: CycleResult) -> None:
        for side, connection in inputs.connections.items():
            namespace = "" if connection.kind == "ClusterConnection" else connection.namespace
            check = self.checks.get((connection.kind, namespace, connection.name))
            if check is not None:
                await check.observe(result, side)

    async def notifications_observed(
        self, inputs: Inputs, roomsync: str, states: Mapping[Side, KeeperState | None]
    ) -> None:
        """What a RoomSync's notifications are like on each side, for its Connections' NotificationsActive."""
        for side, connection in inputs.connections.items():
            namespace = "" if connection.kind == "ClusterConnection" else connection.namespace
            check = self.checks.get((connection.kind, namespace, connection.name))
            if check is not None:
                await check.observe_notifications(roomsync, states.get(side))

    # -- shards (--shard-leases) --------------------------------------------------------------------------------------
    def runs(self, namespace: str, name: str) -> bool:
        """Whether this replica runs the RoomSync (standalone: every one; sharded: those of the shards it holds).
        Exactly one live replica does; a wake-up for a RoomSync run elsewhere is left on the object for its owner."""
        return self._owns((namespace, name))

    def shard_acquired(self, shard: int) -> None:
        """This replica holds the shard now: start the workers of its RoomSyncs and the checks of its Connections."""
        self.ownership.held.add(shard)
        for key, body in list(self.roomsyncs.items()):
            if key not in self.tasks and self._in_shard(key, shard):
                self._start(key, functools.partial(self.worker(*key).run, body))
        for ckey, check in list(self.checks.items()):
            if ckey not in self.tasks and self._in_shard(ckey, shard):
                self._start(ckey, check.run)

    async def shard_handed_over(self, shard: int) -> None:
        """The shard goes to another replica: stop its tasks, letting running cycles finish and write status."""
        await self._stop_all(self._leave_shard(shard))

    async def shard_lost(self, shard: int) -> None:
        """The shard's Lease may be another replica's already: cancel its tasks now, mid-cycle if need be, those
        still finishing a cycle after being told to stop (hand-over, deletion, shutdown) included."""
        self._leave_shard(shard)
        entries = [entry for key, entry in list(self.stopping.items()) if self._in_shard(key, shard)]
        for task, stop in entries:
            stop.set()
            task.cancel()
        if entries:
            _, pending = await asyncio.wait([task for task, _ in entries], timeout=CANCEL_WAIT_SECONDS)
            if pending:
                log.error("shard %d: %d task(s) did not stop when cancelled", shard, len(pending))

    def _leave_shard(self, shard: int) -> list[tuple[asyncio.Task[None], Stop]]:
        self.ownership.held.discard(shard)
        keys = [key for key in self.tasks if self._in_shard(key, shard)]
        for key in [k for k in self.roomsyncs if self._in_shard(k, shard)]:
            self.workers.pop(key, None)  # a later owner here starts afresh (full read), from the object's status
            self.metrics.forget(*key)
        return [self._retire(key) for key in keys]

    def _owns(self, key: object) -> bool:
        return self.ownership.owns(_shard_key(key))

    def _in_shard(self, key: object, shard: int) -> bool:
        return self.ownership.shard(_shard_key(key)) == shard

    # -- tasks --------------------------------------------------------------------------------------------------------
    def _start(self, key: object, run: Callable[[Stop], Any]) -> None:
        if self.closing:
            return
        stop = Stop()
        # The controller's own task, not kopf's: it outlives kopf at shutdown long enough to finish its cycle.
        task = asyncio.create_task(run(stop), name=f"roomsync {key}", context=outside_kopf())
        self.tasks[key] = (task, stop)

    def _stop(self, key: object) -> None:
        if key in self.tasks:
            self._retire(key)[1].set()

    def _retire(self, key: object) -> tuple[asyncio.Task[None], Stop]:
        """Move a task from running to stopping, where it stays until it is done."""
        entry = self.stopping[key] = self.tasks.pop(key)

        def done(_: object) -> None:
            if self.stopping.get(key) is entry:
                del self.stopping[key]

        entry[0].add_done_callback(done)
        return entry

    async def _stop_all(self, entries: Iterable[tuple[asyncio.Task[None], Stop]]) -> None:
        entries = list(entries)
        for _, stop in entries:
            stop.set()
        tasks = [task for task, _ in entries]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # -- deletion -----------------------------------------------------------------------------------------------------
    def roomsync_deleted(self, body: Mapping[str, Any]) -> None:
        """Forget a deleted RoomSync. ``deletionPolicy: Orphan`` (the only policy so far) leaves bookings alone."""
        meta, spec = body.get("metadata") or {}, body.get("spec") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        policy = spec.get("deletionPolicy") or "Orphan"
        worker = self.workers.pop((namespace, name), None)
        if worker is not None:  # its channels go with it (bookings stay: deletionPolicy)
            task = asyncio.create_task(worker.notify.close(), name=f"roomsync {namespace}/{name} channels")
            self._closing_channels.add(task)
            task.add_done_callback(self._closing_channels.discard)
        for check in self.checks.values():
            check.forget_roomsync(f"{namespace}/{name}")
        self.roomsyncs.pop((namespace, name), None)
        self.metrics.forget(namespace, name)
        self.events.forget(body)
        message = f"deletionPolicy {policy}: bookings on both sides are left as they are; links stay on the items"
        self.events.record(body, [Decision(NORMAL, "Orphaned", message)])
        log.info("%s/%s deleted (%s)", namespace, name, message)

    async def aclose(self) -> None:
        self.closing = True
        await self._stop_all([self._retire(key) for key in list(self.tasks)])
        if self._closing_channels:
            await asyncio.wait(set(self._closing_channels), timeout=STOP_GRACE_SECONDS)
        await self.pool.aclose()


def _shard_key(key: object) -> str:
    """A task's key, (namespace, name) of a RoomSync or (kind, namespace, name) of a Connection, as it is hashed."""
    assert isinstance(key, tuple)
    return roomsync_key(*key) if len(key) == 2 else connection_key(*key)


def _generation(body: Mapping[str, Any]) -> object:
    return (body.get("metadata") or {}).get("generation")
