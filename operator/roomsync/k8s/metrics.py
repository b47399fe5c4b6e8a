"""Prometheus metrics of the operator, in a registry of its own (so tests can run several operators).

Names (all prefixed ``roomsync_``):

* ``cycles_total{namespace,name,result}`` - cycles by result (the Ready reason: Synced, BackendUnavailable, ...);
* ``cycle_duration_seconds{namespace,name}`` - histogram of cycle durations;
* ``bookings{namespace,name,side}`` - bookings read in the last cycle, per side;
* ``actions_total{namespace,name,kind,outcome}`` - writes by kind (create, update, cancel, respond, relink) and
  outcome (ok, failed); planned-only actions of a dry run count as ``outcome="planned"``;
* ``backend_requests_total{backend,operation,status}`` - HTTP requests the connectors made;
* ``backend_throttled_seconds_total{backend}`` - time spent waiting on throttling (Retry-After) and back-off;
* ``ready{namespace,name}`` - 1 when the RoomSync's Ready condition is True, else 0;
* ``last_sync_timestamp_seconds{namespace,name}`` - when the last cycle completed;
* ``shards_held`` and ``replicas`` - with ``--shard-leases``: the shards this replica holds, and the live replicas it
  shares them with; ``shard_changes_total{change}`` - shards ``acquired``, ``released`` (handed over) and ``lost``
  (not renewed in time, or found held by another replica).

The per-RoomSync series exist only on the replica that runs the RoomSync: a replica that hands a shard over drops
them (:meth:`Metrics.forget`), so a dashboard summing over replicas counts every RoomSync once.

Backend request counts come from the shared clients' ``requests`` (:class:`RequestCounts`, the port's one
interface for them). Counts are harvested as deltas per client, so a client replaced after a Secret rotation
neither loses nor repeats what it counted.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from roomsync.connectors.base import Client
from roomsync.model import Side
from roomsync.sync.cycle import CycleResult

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.cycles = Counter("roomsync_cycles", "Sync cycles by result", ["namespace", "name", "result"], registry=r)
        self.duration = Histogram(
            "roomsync_cycle_duration_seconds",
            "Duration of sync cycles",
            ["namespace", "name"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.bookings = Gauge(
            "roomsync_bookings", "Bookings read in the last cycle", ["namespace", "name", "side"], registry=r
        )
        self.actions = Counter(
            "roomsync_actions", "Actions by kind and outcome", ["namespace", "name", "kind", "outcome"], registry=r
        )
        self.requests = Counter(
            "roomsync_backend_requests", "Backend HTTP requests", ["backend", "operation", "status"], registry=r
        )
        self.throttled = Counter(
            "roomsync_backend_throttled_seconds", "Time spent waiting on backend throttling", ["backend"], registry=r
        )
        self.ready = Gauge("roomsync_ready", "1 when the RoomSync is Ready", ["namespace", "name"], registry=r)
        self.last_sync = Gauge(
            "roomsync_last_sync_timestamp_seconds", "When the last cycle completed", ["namespace", "name"], registry=r
        )
        self.shards_held = Gauge("roomsync_shards_held", "Shards this replica holds (--shard-leases)", registry=r)
        self.replicas = Gauge("roomsync_replicas", "Live replicas sharing the shards, this one included", registry=r)
        self.shard_changes = Counter(
            "roomsync_shard_changes", "Shards acquired, released or lost by this replica", ["change"], registry=r
        )
        self._seen: dict[int, tuple[Client, Tally[tuple[str, str]], float]] = {}

    # -- per RoomSync -------------------------------------------------------------------------------------------------
    def cycle(self, namespace: str, name: str, result: CycleResult, now: datetime) -> None:
        self.cycles.labels(namespace, name, result.reason).inc()
        self.duration.labels(namespace, name).observe(result.duration)
        for side, snapshot in result.snapshots.items():
            live = sum(1 for b in snapshot.bookings if not b.cancelled)
            self.bookings.labels(namespace, name, _side(side)).set(live)
        if result.report is not None:
            for outcome in result.report.outcomes:
                self.actions.labels(namespace, name, outcome.action.kind.value, "ok" if outcome.ok else "failed").inc()
        elif result.dry_run and result.plan is not None:
            for action in result.plan.actions:
                self.actions.labels(namespace, name, action.kind.value, "planned").inc()
        self.last_sync.labels(namespace, name).set(now.timestamp())

    def failed(self, namespace: str, name: str, reason: str) -> None:
        """A cycle that could not start (InvalidSpec, ConnectionNotFound, SecretNotFound, ...)."""
        self.cycles.labels(namespace, name, reason).inc()

    def set_ready(self, namespace: str, name: str, ready: bool) -> None:
        self.ready.labels(namespace, name).set(1 if ready else 0)

    def forget(self, namespace: str, name: str) -> None:
        """Drop a RoomSync's series (deleted, or now run by another replica) so dashboards do not show it forever."""
        for metric in (self.cycles, self.duration, self.bookings, self.actions, self.ready, self.last_sync):
            for labels in [k for k in _label_sets(metric) if k[:2] == (namespace, name)]:
                metric.remove(*labels)

    # -- sharding -----------------------------------------------------------------------------------------------------
    def shards(self, held: int, replicas: int) -> None:
        self.shards_held.set(held)
        self.replicas.set(replicas)

    def shard_change(self, change: str) -> None:
        self.shard_changes.labels(change).inc()

    # -- per backend client -------------------------------------------------------------------------------------------
    def harvest(self, clients: Iterable[Client]) -> None:
        """Add what each client counted since the last harvest."""
        current: dict[int, tuple[Client, Tally[tuple[str, str]], float]] = {}
        for client in clients:
            counts, throttled = client.requests.by_operation(), client.requests.throttled_seconds
            _, before, waited = self._seen.get(id(client), (client, Tally(), 0.0))
            for (operation, status), count in counts.items():
                delta = count - before.get((operation, status), 0)
                if delta > 0:
                    self.requests.labels(client.backend, operation, status).inc(delta)
            if throttled > waited:
                self.throttled.labels(client.backend).inc(throttled - waited)
            current[id(client)] = (client, counts, throttled)
        self._seen = current


def _side(side: Side) -> str:
    return side.value.lower()


def _label_sets(metric: Any) -> list[tuple[str, ...]]:
    return list(metric._metrics)  # prometheus-client keeps the children by label values
