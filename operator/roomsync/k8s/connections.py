"""The health of each Connection and ClusterConnection, written to its status like cert-manager's Issuer and ESO's
SecretStore: can RoomSync reach the backend, do the credentials work, which rooms can they see.

A check resolves the Connection and its Secrets (the same :func:`~roomsync.config.references.resolve_connection`
the CLI uses), takes the shared client from the pool (so it shares the RoomSyncs' token cache and request limits),
and asks it for its rooms (``Client.rooms()``), which needs the backend to answer and to accept the credentials.
It runs when the Connection appears or changes, when one of its Secrets changes, and every
``--connection-check-interval``. A backend without room discovery cannot be asked like that: the cycles of the
RoomSyncs that use the Connection tell instead (a cycle that read the side proves it reachable and authenticated;
one that failed with ``AuthenticationFailed`` or ``BackendUnavailable`` says so), and ``RoomsVisible`` stays Unknown.

With several replicas (``--shard-leases``) the check runs once, on the replica holding the Connection's shard; what
a cycle learns is written by the replica that ran the cycle. Every replica follows the Connection's status on the
watch, so each starts from what any replica wrote last and changes only what its own cycle established.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from roomsync.config.references import CLUSTER_CONNECTION, ResolveError, resolve_connection, secret_refs
from roomsync.connectors.base import AuthenticationFailed, BackendError
from roomsync.connectors.registry import SecretNotFound, UnsupportedBackend, backend_of
from roomsync.k8s.notifications import notifications_condition
from roomsync.k8s.resolve import KubeSource
from roomsync.k8s.spec import plain
from roomsync.model import Side
from roomsync.sync.cycle import CycleResult
from roomsync.sync.notify.keeper import KeeperState
from roomsync.sync.notify.settings import NotifySettings, notify_settings
from roomsync.sync.status import ConnectionHealth, connection_status

if TYPE_CHECKING:
    from roomsync.k8s.controller import Controller
    from roomsync.k8s.worker import Stop

log = logging.getLogger(__name__)

#: (kind, namespace or "" for a ClusterConnection, name)
Key = tuple[str, str, str]


class ConnectionCheck:
    def __init__(self, controller: Controller, key: Key) -> None:
        self.controller = controller
        self.kind, self.namespace, self.name = key
        self.status: dict[str, Any] | None = None
        self.health: ConnectionHealth | None = None
        self.generation = 0
        self.secrets: frozenset[str] = frozenset()
        self._wake = asyncio.Event()
        #: notifications: the Connection's settings (from the last probe) and each RoomSync's state on it
        self.notify: NotifySettings | None = None
        self.notify_states: dict[str, KeeperState] = {}

    @property
    def plural(self) -> str:
        return "clusterconnections" if self.kind == CLUSTER_CONNECTION else "connections"

    @property
    def secret_namespace(self) -> str:
        return self.controller.cluster_namespace if self.kind == CLUSTER_CONNECTION else self.namespace

    def notice(self, body: Mapping[str, Any]) -> None:
        generation = int((body.get("metadata") or {}).get("generation") or 0)
        spec = body.get("spec") or {}
        self.secrets = frozenset(str(ref.get("name", "")) for _, ref in secret_refs(spec, ""))
        status = plain(dict(body.get("status") or {}))
        if status != self.status:  # written by this replica or another one
            self.status = status
            self.health = _health_of(status) or self.health
        if generation != self.generation:
            self.generation = generation
            self.wake("spec changed")

    def wake(self, why: str) -> None:
        log.debug("%s %s: check now (%s)", self.kind, self.name, why)
        self._wake.set()

    async def run(self, stopped: Stop) -> None:
        while not stopped:
            self._wake.clear()
            try:
                await self._publish(await self.probe(), rewrite=True)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s %s: the check failed unexpectedly", self.kind, self.name)
            woken = asyncio.ensure_future(self._wake.wait())
            halted = asyncio.ensure_future(stopped.wait())
            interval = self.controller.check_interval.total_seconds()
            try:
                await asyncio.wait({woken, halted}, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (woken, halted):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def probe(self) -> ConnectionHealth:
        source = KubeSource(self.controller.kube, self.controller.cluster_namespace)
        try:
            resolved = await resolve_connection(source, self.namespace, self.name, self.kind)
        except ResolveError as error:
            spec = (self.controller.connections.get((self.kind, self.namespace, self.name)) or {}).get("spec") or {}
            self.notify = None
            return ConnectionHealth(_backend(spec), None, None, None, error.reason, error.message)
        try:
            self.notify = notify_settings(resolved, self.controller.notifications.defaults)
        except SecretNotFound:
            self.notify = None
        try:
            client = await self.controller.pool.get(resolved)
        except (SecretNotFound, UnsupportedBackend, BackendError, ValueError) as error:
            reason = error.reason if isinstance(error, BackendError) else "ConnectionNotReady"
            return ConnectionHealth(resolved.backend, None, None, None, reason, f"cannot open the connection: {error}")
        if not client.capabilities.room_discovery:
            # Nothing to ask without side effects: keep what the RoomSyncs' cycles established.
            known = self.health
            if known is not None and known.backend == resolved.backend and known.reachable is not None:
                return known
            message = "the credentials were read; the backend answers for itself at the first cycle that uses it"
            return ConnectionHealth(resolved.backend, None, None, None, "Ready", message)
        try:
            rooms = await client.rooms()
        except AuthenticationFailed as error:
            return ConnectionHealth(resolved.backend, True, False, None, error.reason, str(error))
        except BackendError as error:
            return ConnectionHealth(resolved.backend, False, None, None, error.reason, str(error))
        if not rooms:
            message = "the credentials see no rooms: check the permissions of the account or app"
            return ConnectionHealth(resolved.backend, True, True, 0, "NoRoomsVisible", message)
        return ConnectionHealth(resolved.backend, True, True, len(rooms), "Ready", f"{len(rooms)} room(s) visible")

    async def observe(self, result: CycleResult, side: Side) -> None:
        """A RoomSync cycle used this Connection on ``side``: what it proved about the backend."""
        known = self.health or ConnectionHealth(None, None, None, None, "Ready", "")
        error = result.error if result.error_side is side else None
        if isinstance(error, AuthenticationFailed):
            health = replace(known, reachable=True, authenticated=False, reason=error.reason, message=str(error))
        elif error is not None:
            health = replace(known, reachable=False, authenticated=None, reason=error.reason, message=str(error))
        elif side in result.snapshots:
            good = known.reason in ("Ready", "NoRoomsVisible") and known.authenticated is not False
            message = known.message if good else f"a cycle of RoomSync {result.name} read this side"
            reason = known.reason if good else "Ready"
            health = replace(known, reachable=True, authenticated=True, reason=reason, message=message)
        else:
            return
        if health != self.health:
            await self._publish(health, rewrite=False)

    async def observe_notifications(self, roomsync: str, state: KeeperState | None) -> None:
        """A RoomSync that uses this Connection told how its notifications are (None: it has none here)."""
        if state is None:
            self.notify_states.pop(roomsync, None)
        elif self.notify_states.get(roomsync) == replace(state, channels={}):
            return
        else:
            self.notify_states[roomsync] = replace(state, channels={})
        if self.health is not None:
            await self._publish(self.health, rewrite=False)

    def forget_roomsync(self, roomsync: str) -> None:
        self.notify_states.pop(roomsync, None)

    async def _publish(self, health: ConnectionHealth, *, rewrite: bool) -> None:
        """Write the status; ``rewrite``: also when only the check time moved (a periodic check is news)."""
        self.health = health
        now = self.controller.clock()
        status = connection_status(self.status, health, now, self.generation)
        status["conditions"].append(
            notifications_condition(self.status, self.notify, self.notify_states, now, self.generation)
        )
        if self.status is not None and (self.status == status or (not rewrite and _same_but_time(self.status, status))):
            return
        namespace = None if self.kind == CLUSTER_CONNECTION else self.namespace
        if await self.controller.kube.patch_status(self.plural, namespace, self.name, status):
            self.status = status


def _health_of(status: Mapping[str, Any]) -> ConnectionHealth | None:
    """What a Connection's status says (the inverse of :func:`~roomsync.sync.status.connection_status`)."""
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready = conditions.get("Ready")
    if ready is None:
        return None

    def established(type_: str) -> bool | None:
        value = (conditions.get(type_) or {}).get("status")
        return True if value == "True" else False if value == "False" else None

    rooms = status.get("roomsVisible")
    return ConnectionHealth(
        status.get("backend"),
        established("Reachable"),
        established("Authenticated"),
        None if rooms is None else int(rooms),
        str(ready.get("reason") or "Ready"),
        str(ready.get("message") or ""),
    )


def _same_but_time(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """A check that found the same as the last one rewrites nothing (no watch event, no resourceVersion churn)."""
    return {k: v for k, v in old.items() if k != "lastCheckTime"} == {
        k: v for k, v in new.items() if k != "lastCheckTime"
    }


def _backend(spec: Mapping[str, Any]) -> str | None:
    try:
        return backend_of(spec)
    except UnsupportedBackend:
        return None
