"""The operator's change notifications: the receiver on a port of its own, waking the replica that owns a RoomSync,
each RoomSync's channels, and the ``NotificationsActive`` condition of Connections.

**Receiving.** ``--notifications-port`` serves :class:`~roomsync.sync.notify.receiver.Receiver` over HTTPS with the
certificate in ``--notifications-tls-cert``/``--notifications-tls-key`` (a mounted ``kubernetes.io/tls`` Secret, e.g.
cert-manager's; the files are re-read when they change), or plain HTTP behind a TLS-terminating Ingress or Gateway.
A Connection's notification settings (``spec.notifications``, its Secret, the operator's defaults) are resolved the
way a RoomSync's are and cached until the Connection or a labelled Secret changes.

**Routing to the owner.** A notification may reach any replica; :class:`Owners` says whether this one runs the
RoomSync (the only thing routing asks of how replicas share the work). The address names the RoomSync (calendars) or the
Connection (Planon, then every RoomSync with that reservation unit). When this replica runs the RoomSync's worker,
the worker is woken at once with the rooms to read. Otherwise the wake-up is *recorded on the RoomSync*: an
annotation ``notified.roomsync.io/<room>`` whose value changes with every notification. The replica that owns the
RoomSync receives it on its watch like any other change, reads those rooms, and removes the annotation with a JSON
patch that first tests the value it handled, so a newer notification recorded meanwhile is never removed unread.
Nothing is lost between replicas: a wake-up is either in a worker's memory, or on the object, or the vendor is
answered 503 and delivers again.

**Channels.** Each worker's :class:`RoomSyncNotifications` runs its RoomSync's
:class:`~roomsync.sync.notify.keeper.ChannelKeeper` after every cycle, saves the channels in
``status.notifications`` (the cluster's own store: Google channels cannot be listed), stops them when the RoomSync
is deleted, and tells the worker how long it may sleep: the Connections' ``pollInterval`` (the safety net) while
both sides notify, ``spec.interval`` otherwise. A notification for a RoomSync that no longer exists, or no longer
has that room, stops the channel it came by.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import ssl
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from roomsync.config.references import ResolvedConnection, ResolveError, resolve_connection
from roomsync.connectors.base import BackendError
from roomsync.connectors.push import Channel, NoticeKind, PushChannels
from roomsync.connectors.registry import SecretNotFound, UnsupportedBackend
from roomsync.k8s.kubeapi import KubeAccessError
from roomsync.k8s.resolve import KubeSource
from roomsync.k8s.spec import InvalidSpec, load_config
from roomsync.model import Side
from roomsync.sync.notify.addresses import ConnectionKey
from roomsync.sync.notify.keeper import ChannelKeeper, KeeperState
from roomsync.sync.notify.receiver import Receiver, Wake
from roomsync.sync.notify.settings import ACTIVE, Defaults, NotifySettings, notify_settings
from roomsync.sync.status import condition

if TYPE_CHECKING:
    from roomsync.config.references import Inputs
    from roomsync.config.roomsync import RoomSyncConfig
    from roomsync.k8s.controller import Controller
    from roomsync.k8s.probes import Servers
    from roomsync.k8s.worker import Worker

log = logging.getLogger(__name__)

#: Annotations recording a wake-up for the replica that owns a RoomSync: ``notified.roomsync.io/<hash of room>``.
NOTIFIED = "notified.roomsync.io/"
#: How long a Connection's resolved notification settings are trusted without a watch event.
SETTINGS_TTL = timedelta(minutes=5)
#: How often the TLS certificate files are checked for a renewed certificate.
CERTIFICATE_CHECK_SECONDS = 30.0
NOTIFICATIONS_ACTIVE = "NotificationsActive"


class NotificationMetrics:
    """``roomsync_notifications_total{backend,outcome}``: accepted, refused (wrong secret), handshake, confirmed,
    missed, resubscribe, malformed, unknown (no such address), unrouted (could not be recorded: 503),
    unwanted (a channel nobody uses any more, stopped)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.total = Counter(
            "roomsync_notifications", "Notifications received, by outcome", ["backend", "outcome"], registry=registry
        )

    def count(self, backend: str, outcome: str, count: int = 1) -> None:
        self.total.labels(backend or "unknown", outcome).inc(count)


def read_key(path: str | None) -> bytes | None:
    """The operator's own notification key (``--notifications-secret-file``, a mounted Secret)."""
    if not path:
        return None
    data = Path(path).read_bytes().strip()
    if len(data) < 16:
        raise ValueError(f"{path}: a notification key needs at least 16 bytes")
    return data


def annotation_of(room: str) -> str:
    return NOTIFIED + hashlib.sha256(room.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Recorded:
    """A wake-up recorded on a RoomSync by another replica."""

    room: str  # the room key (Planon unit code)
    resubscribe: bool

    @staticmethod
    def parse(value: str) -> Recorded | None:
        try:
            data = json.loads(value)
            return Recorded(str(data["room"]), bool(data.get("resubscribe")))
        except (ValueError, KeyError, TypeError):
            return None


class Owners(Protocol):
    """Which RoomSyncs this replica runs: the one seam between routing and how replicas share the work (every
    replica runs its own workers today; Lease-based sharding answers from the shards it holds)."""

    def local(self, namespace: str, name: str) -> Worker | None:
        """This replica's running worker of the RoomSync, or None when another replica runs it (or none yet)."""
        ...


@dataclass(frozen=True)
class RunningWorkers:
    """The default :class:`Owners`: a RoomSync is this replica's while it holds its shard (always, standalone) and
    its worker loop runs here."""

    controller: Controller

    def local(self, namespace: str, name: str) -> Worker | None:
        if not self.controller.runs(namespace, name):  # another replica holds its shard
            return None
        worker = self.controller.workers.get((namespace, name))
        return worker if worker is not None and worker.running else None


class Notifications:
    """One per operator: settings, the receiver, routing."""

    def __init__(
        self, controller: Controller, defaults: Defaults, registry: CollectorRegistry, owners: Owners | None = None
    ) -> None:
        self.controller = controller
        self.owners: Owners = owners or RunningWorkers(controller)
        self.defaults = defaults
        self.metrics = NotificationMetrics(registry)
        self.receiver = Receiver(self.settings, self, self.metrics.count)
        self._resolved: dict[ConnectionKey, tuple[datetime, ResolvedConnection | None]] = {}
        self._certificates: tuple[str, str, float] | None = None

    # -- a Connection's settings ----------------------------------------------------------------------------------
    async def resolved(self, key: ConnectionKey) -> ResolvedConnection | None:
        now = self.controller.clock()
        cached = self._resolved.get(key)
        if cached is not None and now - cached[0] < SETTINGS_TTL:
            return cached[1]
        source = KubeSource(self.controller.kube, self.controller.cluster_namespace)
        try:
            found: ResolvedConnection | None = await resolve_connection(source, key.namespace, key.name, key.kind)
        except ResolveError:
            found = None
        self._resolved[key] = (now, found)
        return found

    async def settings(self, connection: ConnectionKey, backend: str) -> NotifySettings | None:
        found = await self.resolved(connection)
        if found is None or found.backend != backend:
            return None
        try:
            return notify_settings(found, self.defaults)
        except SecretNotFound:
            return None

    def forget(self) -> None:
        """A Connection or a labelled Secret changed: resolve again when next asked."""
        self._resolved.clear()

    # -- routing --------------------------------------------------------------------------------------------------
    async def deliver(self, wake: Wake) -> int:
        if wake.roomsync is None:
            targets = self._planon_targets(wake)
        else:
            targets = await self._calendar_target(wake)
        resubscribe = wake.kind is NoticeKind.RESUBSCRIBE
        for (namespace, name), rooms in targets.items():
            worker = self.owners.local(namespace, name)
            if worker is not None:
                worker.notified(rooms, {wake.calendar} if resubscribe and wake.calendar else set())
                continue
            for room in rooms:
                await self._record(namespace, name, Recorded(room, resubscribe))
        return len(targets)

    def _planon_targets(self, wake: Wake) -> dict[tuple[str, str], set[str]]:
        units = set(wake.units)
        targets: dict[tuple[str, str], set[str]] = {}
        for config in self.controller.configs():
            if self._uses(config, wake.connection, Side.PLANON):
                rooms = {r.planon for r in config.rooms if not units or r.planon in units}
                if rooms:
                    targets[(config.namespace, config.name)] = rooms
        return targets

    async def _calendar_target(self, wake: Wake) -> dict[tuple[str, str], set[str]]:
        assert wake.roomsync is not None
        namespace, name = wake.roomsync
        body = self.controller.roomsyncs.get((namespace, name))
        if body is None:  # not served by this replica's watch (another shard), or gone: ask the API server
            body = await self.controller.kube.get("roomsyncs", namespace, name)
        config = None
        if body is not None:
            with contextlib.suppress(InvalidSpec):
                config = load_config(body)
        rooms = set()
        if config is not None and self._uses(config, wake.connection, Side.CALENDAR):
            rooms = {r.planon for r in config.rooms if r.calendar.casefold() == wake.calendar}
        if not rooms:
            await self._stop_unwanted(wake)
            return {}
        return {(namespace, name): rooms}

    @staticmethod
    def _uses(config: RoomSyncConfig, key: ConnectionKey, side: Side) -> bool:
        kind, ref = (
            (config.planon_connection_kind, config.planon_connection)
            if side is Side.PLANON
            else (config.calendar_connection_kind, config.calendar_connection)
        )
        if kind != key.kind or ref != key.name:
            return False
        return key.cluster or config.namespace == key.namespace

    async def _stop_unwanted(self, wake: Wake) -> None:
        """A genuine notification for a RoomSync or room that is gone: its channel is stopped."""
        self.metrics.count(wake.backend, "unwanted")
        resolved = await self.resolved(wake.connection)
        if resolved is None or not wake.channel or not wake.calendar:
            return
        try:
            client = await self.controller.pool.get(resolved)
            push: PushChannels | None = getattr(client, "push", None)
            if push is not None:
                expires = self.controller.clock()
                await push.stop(Channel(wake.calendar, wake.channel, expires, "", wake.resource))
                log.info("stopped channel %s of %s: nobody syncs it any more", wake.channel, wake.calendar)
        except (BackendError, SecretNotFound, UnsupportedBackend, ValueError) as error:
            log.warning("stopping unwanted channel %s failed: %s", wake.channel, error)

    async def _record(self, namespace: str, name: str, recorded: Recorded) -> None:
        """For the owner on another replica: an annotation whose value is new for every wake-up."""
        value = json.dumps({"room": recorded.room, "resubscribe": recorded.resubscribe, "id": uuid.uuid4().hex})
        change = {"metadata": {"annotations": {annotation_of(recorded.room): value}}}
        try:
            await self.controller.kube.patch("roomsyncs", namespace, name, change)
        except KubeAccessError as error:
            if await self.controller.kube.get("roomsyncs", namespace, name) is None:
                return  # deleted meanwhile: nothing to wake
            raise RuntimeError(f"recording a notification on RoomSync {namespace}/{name} failed: {error}") from error

    async def handled(self, namespace: str, name: str, annotations: Mapping[str, str]) -> None:
        """Remove recorded wake-ups the owner has read, unless a newer one replaced them meanwhile."""
        for key, value in annotations.items():
            escaped = key.replace("~", "~0").replace("/", "~1")
            operations = [
                {"op": "test", "path": f"/metadata/annotations/{escaped}", "value": value},
                {"op": "remove", "path": f"/metadata/annotations/{escaped}"},
            ]
            try:
                await self.controller.kube.patch_json("roomsyncs", namespace, name, operations)
            except KubeAccessError as error:
                log.warning("%s/%s: removing a handled notification failed: %s", namespace, name, error)

    # -- serving --------------------------------------------------------------------------------------------------
    async def serve(self, servers: Servers, host: str, port: int, cert: str | None, key: str | None) -> None:
        app = self.receiver.app()
        context = None
        if cert and key:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            self._certificates = (cert, key, _mtime(cert, key))

            async def reloading(_: web.Application) -> AsyncIterator[None]:
                assert context is not None
                task = asyncio.create_task(self._reload(context), name="roomsync notification certificate")
                yield
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

            app.cleanup_ctx.append(reloading)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        servers.runners.append(runner)
        site = web.TCPSite(runner, host, port, ssl_context=context)
        await site.start()
        servers.ports["notifications"] = runner.addresses[0][1] if runner.addresses else port

    async def _reload(self, context: ssl.SSLContext) -> None:
        """cert-manager renews the Secret; the kubelet swaps the mounted files; new handshakes get the new one."""
        while True:
            await asyncio.sleep(CERTIFICATE_CHECK_SECONDS)
            assert self._certificates is not None
            cert, key, seen = self._certificates
            try:
                current = _mtime(cert, key)
                if current != seen:
                    context.load_cert_chain(cert, key)
                    self._certificates = (cert, key, current)
                    log.info("notification endpoint: certificate reloaded from %s", cert)
            except (OSError, ssl.SSLError) as error:
                log.warning("notification endpoint: certificate not reloaded: %s", error)


def _mtime(*paths: str) -> float:
    return max(os.stat(p).st_mtime for p in paths)


@dataclass
class RoomSyncNotifications:
    """One RoomSync's side of it: its calendar channels, and whether it may poll only as a safety net."""

    worker: Worker
    keeper: ChannelKeeper | None = None
    calendar: ResolvedConnection | None = None
    states: dict[Side, KeeperState] = field(default_factory=dict)
    #: the RoomSync is gone: a cycle still running when it was deleted must not subscribe its rooms again
    retired: bool = False

    async def after_cycle(self, config: RoomSyncConfig, inputs: Inputs) -> tuple[dict[str, Any], timedelta]:
        """Keep the channels; the status block and how long to sleep. Rooms newly subscribed are woken once."""
        controller = self.worker.controller
        notifications = controller.notifications
        now = controller.clock()
        calendar, planon = inputs.connections[Side.CALENDAR], inputs.connections[Side.PLANON]
        calendar_settings = notify_settings(calendar, notifications.defaults)
        planon_settings = notify_settings(planon, notifications.defaults)
        key = _key(calendar)
        if self.retired:
            return {"active": False}, config.interval
        if self.keeper is not None and (self.keeper.connection != key or self.keeper.backend != calendar.backend):
            await self._stop_channels()  # the RoomSync moved to another calendar Connection
        if self.keeper is None:
            self.keeper = ChannelKeeper(key, calendar.backend, (config.namespace, config.name))
            saved = ((self.worker.status or {}).get("notifications") or {}).get("calendar") or {}
            self.keeper.restore(saved.get("channels") or {}, calendar_settings.url)
        self.calendar = calendar
        push = await self._push(calendar)
        calendars = [r.calendar for r in config.rooms]
        if push is not None:
            keeper = self.keeper
            fresh = await keeper.keep(push, calendar_settings, calendars, now)
            if self.retired:  # deleted while this pass subscribed: what it made goes too
                await keeper.close(push)
                return {"active": False}, config.interval
            if fresh:
                rooms = {r.planon for r in config.rooms if r.calendar.casefold() in fresh}
                self.worker.notified(rooms, set(), why="subscribed: reading the new channels' rooms once")
        calendar_state = self.keeper.state(calendar_settings, calendars, now)
        planon_state = KeeperState(planon_settings.enabled, planon_settings.reason, planon_settings.message)
        self.states = {Side.CALENDAR: calendar_state, Side.PLANON: planon_state}
        active = calendar_state.active and planon_state.active
        interval = config.interval
        if active:
            interval = max(config.interval, min(calendar_settings.poll_interval, planon_settings.poll_interval))
        await controller.notifications_observed(inputs, config.key, self.states)
        block = {
            "active": active,
            "pollInterval": f"{int(interval.total_seconds())}s",
            "calendar": _side(calendar_state, with_channels=True),
            "planon": _side(planon_state, with_channels=False),
        }
        return block, interval

    async def _push(self, connection: ResolvedConnection) -> PushChannels | None:
        try:
            client = await self.worker.controller.pool.get(connection)
        except (BackendError, SecretNotFound, UnsupportedBackend, ValueError):
            return None
        push: PushChannels | None = getattr(client, "push", None)
        if push is not None and hasattr(push, "sink") and push.sink is None:
            push.sink = self.worker.controller.notifications.receiver.local  # EWS streaming: delivered in-process
        return push

    def resubscribe(self, calendars: set[str]) -> None:
        if self.keeper is not None:
            self.keeper.resubscribe |= {c.casefold() for c in calendars}

    async def close(self) -> None:
        """The RoomSync is gone: stop its channels, and make none again."""
        self.retired = True
        await self._stop_channels()

    async def _stop_channels(self) -> None:
        """Stop the channels (the RoomSync is gone, or left this calendar Connection)."""
        keeper, self.keeper = self.keeper, None
        if keeper is None or self.calendar is None:
            return
        await keeper.close(await self._push(self.calendar))


def _key(connection: ResolvedConnection) -> ConnectionKey:
    namespace = "" if connection.kind == "ClusterConnection" else connection.namespace
    return ConnectionKey(connection.kind, namespace, connection.name)


def _side(state: KeeperState, *, with_channels: bool) -> dict[str, Any]:
    side: dict[str, Any] = {"active": state.active, "reason": state.reason, "message": state.message[:1024]}
    if with_channels and state.channels:
        side["channels"] = dict(state.channels)
    return side


def notifications_condition(
    previous: Mapping[str, Any] | None,
    settings: NotifySettings | None,
    states: Mapping[str, KeeperState],
    now: datetime,
    generation: int,
) -> dict[str, Any]:
    """A Connection's ``NotificationsActive``: True while every RoomSync using it is notified; False, with the
    reason, when it falls back to polling."""

    def cond(status: bool | None, reason: str, message: str) -> dict[str, Any]:
        return condition(previous, NOTIFICATIONS_ACTIVE, status, reason, message, now, generation)

    if settings is None:
        return cond(None, "Unknown", "not established yet: the Connection could not be resolved")
    if not settings.enabled:
        return cond(False, settings.reason, settings.message)
    if not states:
        return cond(None, "NoRoomSync", "notifications are configured; no RoomSync uses this Connection yet")
    inactive = {name: s for name, s in sorted(states.items()) if not s.active}
    if inactive:
        name, state = next(iter(inactive.items()))
        message = (
            f"{len(inactive)} of {len(states)} RoomSync(s) poll every spec.interval; first: {name}: {state.message}"
        )
        return cond(False, state.reason, message)
    poll = int(settings.poll_interval.total_seconds())
    return cond(
        True, ACTIVE, f"{len(states)} RoomSync(s) are notified of changes; a safety-net poll runs every {poll}s"
    )
