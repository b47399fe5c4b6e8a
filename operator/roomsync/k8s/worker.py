"""The loop that keeps one RoomSync in sync: wait for the interval or a wake-up, run a cycle, write status.

A worker is a task of the controller, one per RoomSync this replica runs. It starts a cycle every ``spec.interval``
(:mod:`roomsync.sync.cadence`) and is woken early by a spec change (a new ``metadata.generation``), a new value of the
``roomsync.io/sync-requested-at`` annotation, or a change to a Connection or Secret the RoomSync uses. Everything
that decides *what* to sync lives in :mod:`roomsync.sync` and :mod:`roomsync.engine`; the worker resolves inputs,
calls the runner, and reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from roomsync.config.durations import parse_duration
from roomsync.config.references import Dependencies, Inputs, ResolveError, resolve
from roomsync.config.roomsync import RoomSyncConfig
from roomsync.connectors.base import AuthenticationFailed, BackendError
from roomsync.connectors.registry import SecretNotFound, UnsupportedBackend
from roomsync.k8s import events
from roomsync.k8s.notifications import NOTIFIED, Recorded, RoomSyncNotifications
from roomsync.k8s.resolve import KubeSource
from roomsync.k8s.spec import InvalidSpec, load_config, plain
from roomsync.sync.cadence import Cadence
from roomsync.sync.runner import RoomSyncRunner
from roomsync.sync.status import ROOM_ALREADY_CLAIMED, cycle_status, failure_status, mode_of

if TYPE_CHECKING:
    from roomsync.k8s.controller import Controller

log = logging.getLogger(__name__)

REQUESTED_AT = "roomsync.io/sync-requested-at"
#: The wake-up reason of a notification: a pass woken only by these reads only the rooms notified.
NOTIFIED_WHY = "notification"
#: How soon to look again at a RoomSync whose spec cannot even be read (no usable spec.interval).
FALLBACK_INTERVAL = timedelta(seconds=60)
MIN_INTERVAL = timedelta(seconds=10)


class Stop:
    """Tells a worker or check to stop, the way kopf's ``DaemonStopped`` does: truthy once set, awaitable."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def __bool__(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> bool:
        return await self._event.wait()


class Worker:
    def __init__(self, controller: Controller, namespace: str, name: str) -> None:
        self.controller = controller
        self.namespace, self.name = namespace, name
        self.depends = Dependencies()
        self.runner: RoomSyncRunner | None = None
        self.inputs: Inputs | None = None
        self.generation: int | None = None  # the generation the last pass ran for
        self.seen_request: str | None = None  # the sync-requested-at value the last pass saw
        self.handled_request: str | None = None  # the last sync-requested-at value a cycle ran for
        self.status: dict[str, Any] | None = None  # the status as last written (we are its only writer)
        self.passes = 0
        self.body: Mapping[str, Any] = {}
        self.refused_rooms: frozenset[str] = frozenset()  # rooms another RoomSync owns
        self._runner_key: tuple[RoomSyncConfig, str] | None = None
        self._wake = asyncio.Event()
        self._why: set[str] = set()
        self.running = False  # this replica runs the loop (notifications for it are delivered in memory)
        self.notify = RoomSyncNotifications(self)
        self._notified: set[str] = set()  # rooms a notification asked to read (room keys)
        self._recorded: dict[str, str] = {}  # wake-ups recorded on the object by other replicas, not handled yet
        self._seen_recorded: dict[str, str] = {}

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    # -- wake-ups -----------------------------------------------------------------------------------------------------
    def wake(self, why: str) -> None:
        self._why.add(why)
        self._wake.set()

    def notified(self, rooms: set[str], resubscribe: set[str], why: str = NOTIFIED_WHY) -> None:
        """A change notification (or a new channel) for these rooms: read them, and only them, at once."""
        self._notified |= rooms
        self.notify.resubscribe(resubscribe)
        self.wake(why if why == NOTIFIED_WHY else f"{NOTIFIED_WHY}: {why}")

    def notice(self, body: Mapping[str, Any]) -> None:
        """Called for every watch event of this RoomSync: wake up for a new generation, a sync request, or a
        notification another replica recorded on it."""
        self.body = body
        meta = body.get("metadata") or {}
        if self.generation is not None and int(meta.get("generation") or 0) != self.generation:
            self.wake("spec changed")
        annotations = meta.get("annotations") or {}
        requested = annotations.get(REQUESTED_AT)
        if requested and requested != self.seen_request:
            self.wake(f"sync requested at {requested}")
        for key, value in annotations.items():
            if key.startswith(NOTIFIED) and self._seen_recorded.get(key) != value:
                self._seen_recorded[key] = value
                recorded = Recorded.parse(str(value))
                if recorded is not None:
                    self._recorded[key] = str(value)
                    calendars = {r.get("calendar", "") for r in _rooms_of(body) if r.get("planon") == recorded.room}
                    self.notified({recorded.room}, calendars if recorded.resubscribe else set())

    def uses(self, kind: str, namespace: str, name: str) -> bool:
        """Whether the last resolution read this Connection (``namespace`` "" for a ClusterConnection)."""
        if kind == "ClusterConnection":
            return name in self.depends.cluster_connections
        return namespace == self.namespace and name in self.depends.connections

    def invalidate(self, why: str) -> None:
        """A Connection or Secret this RoomSync uses changed: read them again, now."""
        self.inputs = None
        self.wake(why)

    # -- the loop -----------------------------------------------------------------------------------------------------
    async def run(self, body: Mapping[str, Any], stopped: Any) -> None:
        """Run until ``stopped`` is set (deletion, operator exit, or its shard handed over or lost)."""
        self.body = body
        self.status = plain(body.get("status") or {})
        self.handled_request = self.seen_request = self.status.get("lastHandledRequestedAt")
        self.running = True
        try:
            while not stopped:
                self._wake.clear()
                why, self._why = self._why, set()
                rooms, self._notified = self._notified, set()
                recorded, self._recorded = self._recorded, {}
                if why:
                    log.info("%s: cycle now (%s)", self.key, "; ".join(sorted(why)))
                # Only notifications woke it: read just their rooms. The timer, or anything else: every room.
                only = rooms if why and all(w.startswith(NOTIFIED_WHY) for w in why) else None
                cadence = Cadence()
                try:
                    pause = await self.step(plain(self.body), changed_rooms=only)
                except asyncio.CancelledError:
                    self._notified |= rooms
                    raise
                except Exception:
                    log.exception("%s: pass failed unexpectedly; retrying in %s", self.key, FALLBACK_INTERVAL)
                    pause = FALLBACK_INTERVAL
                if recorded:
                    await self.controller.notifications.handled(self.namespace, self.name, recorded)
                await self._sleep(cadence.remaining(pause.total_seconds()), stopped)
        finally:
            self.running = False

    async def _sleep(self, seconds: float, stopped: Any) -> None:
        if self._wake.is_set() or stopped:
            return
        woken = asyncio.ensure_future(self._wake.wait())
        halted = asyncio.ensure_future(stopped.wait())
        try:
            await asyncio.wait({woken, halted}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (woken, halted):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def step(self, body: dict[str, Any], changed_rooms: set[str] | None = None) -> timedelta:
        """One pass over a snapshot of the object; returns how long to wait before the next. ``changed_rooms``:
        read only these rooms (a notification named them; a full read, when due, still reads everything)."""
        self.passes += 1
        meta = body.get("metadata") or {}
        generation = int(meta.get("generation") or 0)
        requested = (meta.get("annotations") or {}).get(REQUESTED_AT) or None
        self.generation, self.seen_request = generation, requested
        try:
            config = load_config(body)
        except InvalidSpec as error:
            await self._fail(body, "InvalidSpec", f"the spec is invalid: {error}", requested)
            return _interval_of(body)
        if config.suspend:
            await self._suspended(body)
            return config.interval
        claimed = self.controller.claim_conflicts(self.namespace, self.name)
        refused = {c.room: c for c in claimed}
        calendars = {r.planon: r.calendar for r in config.rooms}
        self.refused_rooms = frozenset(refused)
        if refused and len(refused) == len(config.rooms):
            message = "; ".join(c.message for c in claimed[:3]) + ("; ..." if len(claimed) > 3 else "")
            await self._fail(
                body, ROOM_ALREADY_CLAIMED, f"every room is synced by another RoomSync: {message}", requested
            )
            return config.interval
        if refused:
            config = replace(config, rooms=tuple(r for r in config.rooms if r.planon not in refused))
        try:
            runner = await self._runner(config)
        except ResolveError as error:
            self.depends, self.inputs, self.runner = error.depends, None, None
            await self._fail(body, error.reason, error.message, requested)
            return config.interval
        except (SecretNotFound, UnsupportedBackend, BackendError, ValueError) as error:
            self.inputs, self.runner = None, None
            await self._fail(body, _open_reason(error), f"cannot open the connection: {error}", requested)
            return config.interval

        force_full = requested is not None and requested != self.handled_request
        controller = self.controller
        narrowed = None if force_full or changed_rooms is None else changed_rooms & {r.planon for r in config.rooms}
        async with controller.cycle_slots:
            result = await runner.cycle(controller.clock(), force_full=force_full, changed_rooms=narrowed)
        if narrowed is not None:  # what a failed read did not read is read next time, not forgotten
            unread = narrowed if result.error else {r for s in result.snapshots.values() for r in s.unreadable_rooms}
            self._notified |= unread & narrowed
        if requested is not None:
            self.handled_request = requested
        if isinstance(result.error, AuthenticationFailed):
            self.inputs = None  # read the Secret again next time: it may have been rotated meanwhile
        interval = config.interval
        notifications: dict[str, Any] | None = None
        inputs = self.inputs
        if inputs is not None:
            await controller.cycle_observed(inputs, result)
            notifications, interval = await self.notify.after_cycle(config, inputs)
        finished = controller.clock()
        refusals = [(c.room, calendars.get(c.room, ""), c.message) for c in refused.values()]
        status = cycle_status(self.status, result, finished, generation, requested_at=requested, refused_rooms=refusals)
        if notifications is not None:
            status["notifications"] = notifications
        await self._write(body, status)
        controller.metrics.cycle(self.namespace, self.name, result, finished)
        controller.metrics.harvest(controller.pool.clients())
        controller.events.record(body, events.decisions(result))
        log.info("%s: %s (%s)", self.key, result.reason, result.message)
        return interval

    async def _runner(self, config: RoomSyncConfig) -> RoomSyncRunner:
        now = self.controller.clock()
        if self.inputs is None or self.runner is None or self.runner.full_read_due(now):
            source = KubeSource(self.controller.kube, self.controller.cluster_namespace)
            self.inputs = await resolve(source, config)  # re-read at least every full resync
            self.depends = self.inputs.depends
        key = (config, self.inputs.fingerprint)
        if self.runner is None or self._runner_key != key:
            self.runner = await RoomSyncRunner.open(config, self.controller.pool, self.inputs)
            self._runner_key = key
        return self.runner

    # -- status -------------------------------------------------------------------------------------------------------
    async def _fail(self, body: dict[str, Any], reason: str, message: str, requested: str | None) -> None:
        mode = mode_of(body.get("spec") or {})
        status = failure_status(self.status, reason, message, self.controller.clock(), self.generation or 0, mode)
        if requested is not None:
            status["lastHandledRequestedAt"] = requested  # handled, even though it failed: the reason says why
        await self._write(body, status)
        self.controller.metrics.failed(self.namespace, self.name, reason)
        self.controller.events.record(body, events.failure(reason, message))
        log.warning("%s: %s: %s", self.key, reason, message)

    async def _suspended(self, body: dict[str, Any]) -> None:
        message = "spec.suspend is true: no sync cycles run until it is set back to false"
        now, generation = self.controller.clock(), self.generation or 0
        status = failure_status(self.status, "Suspended", message, now, generation, "Suspended")
        await self._write(body, status)  # a suspended pass is not a cycle: no cycle metric, no Event

    async def _write(self, body: dict[str, Any], status: dict[str, Any]) -> None:
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))
        self.controller.metrics.set_ready(self.namespace, self.name, ready)
        if _same(self.status, status):
            return  # nothing new to say: no write, no watch event, no resourceVersion churn
        removed = {key: None for key in (self.status or {}) if key not in status}  # merge patch: null deletes
        if not await self.controller.kube.patch_status("roomsyncs", self.namespace, self.name, {**status, **removed}):
            log.info("%s: gone before its status could be written", self.key)
            return
        self.status = status


def _rooms_of(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rooms = (body.get("spec") or {}).get("rooms") or []
    return [r for r in rooms if isinstance(r, Mapping)]


def _same(previous: Mapping[str, Any] | None, status: Mapping[str, Any]) -> bool:
    return previous is not None and dict(previous) == dict(status)


def _interval_of(body: Mapping[str, Any]) -> timedelta:
    try:
        return max(parse_duration(str((body.get("spec") or {}).get("interval", "60s"))), MIN_INTERVAL)
    except ValueError:
        return FALLBACK_INTERVAL


def _open_reason(error: Exception) -> str:
    if isinstance(error, SecretNotFound):
        return "SecretNotFound"
    if isinstance(error, BackendError):
        return error.reason
    return "ConnectionNotReady"  # an unsupported backend, or a Connection its connector cannot use
