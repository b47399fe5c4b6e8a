"""What all RoomSync workers of one operator share: the client pool, metrics, events, and who depends on what.

Connections and Secrets are watched only to wake the RoomSyncs that use them; their content is read on demand by
the worker (:mod:`roomsync.k8s.resolve`), so the operator never holds a copy of every Secret in the cluster.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from roomsync.k8s.events import NORMAL, Decision, EventRecorder
from roomsync.k8s.kubeapi import Kube
from roomsync.k8s.metrics import Metrics
from roomsync.k8s.worker import Worker
from roomsync.sync.runner import ClientPool

log = logging.getLogger(__name__)

#: Cycles running at once across all RoomSyncs of this operator (each cycle has its own concurrency inside).
DEFAULT_CONCURRENT_CYCLES = 16


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
    ) -> None:
        self.kube = kube
        self.pool = pool or ClientPool()
        self.metrics = metrics or Metrics()
        self.events = events or EventRecorder(clock=clock)
        self.clock = clock
        self.cycle_slots = asyncio.Semaphore(concurrent_cycles)
        self.workers: dict[tuple[str, str], Worker] = {}

    def worker(self, namespace: str, name: str) -> Worker:
        key = (namespace, name)
        if key not in self.workers:
            self.workers[key] = Worker(self, namespace, name)
        return self.workers[key]

    # -- watch events -------------------------------------------------------------------------------------------------
    def roomsync_event(self, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        worker = self.workers.get((str(meta.get("namespace")), str(meta.get("name"))))
        if worker is not None:
            worker.notice(body)

    def connection_changed(self, namespace: str, name: str) -> None:
        for worker in self._in(namespace):
            if name in worker.depends.connections:
                worker.invalidate(f"Connection {name} changed")

    def secret_changed(self, namespace: str, name: str) -> None:
        for worker in self._in(namespace):
            if name in worker.depends.secrets:
                worker.invalidate(f"Secret {name} changed")

    def _in(self, namespace: str) -> list[Worker]:
        return [w for (ns, _), w in self.workers.items() if ns == namespace]

    # -- deletion -----------------------------------------------------------------------------------------------------
    def roomsync_deleted(self, body: Mapping[str, Any]) -> None:
        """Forget a deleted RoomSync. ``deletionPolicy: Orphan`` (the only policy so far) leaves bookings alone."""
        meta, spec = body.get("metadata") or {}, body.get("spec") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        policy = spec.get("deletionPolicy") or "Orphan"
        self.workers.pop((namespace, name), None)
        self.metrics.forget(namespace, name)
        self.events.forget(body)
        message = f"deletionPolicy {policy}: bookings on both sides are left as they are; links stay on the items"
        self.events.record(body, [Decision(NORMAL, "Orphaned", message)])
        log.info("%s/%s deleted (%s)", namespace, name, message)

    async def aclose(self) -> None:
        await self.pool.aclose()
