"""The one path from a RoomSync to what a cycle needs: its two Connections and the Secrets they name.

The CLI reads them from manifest files (:class:`DictSource` with an environment fallback), the operator from the
cluster (``roomsync.k8s.kubeapi``); both resolve here, so a reference that ``roomsync validate`` accepts is one the
operator accepts, with the same message, and the same fingerprint tells the client pool that credentials changed.

Only the RoomSync's namespace is read: the namespace is a tenancy boundary, so a RoomSync can never point at another
team's credentials. What was read is remembered as the RoomSync's dependencies, so that a change to one of these
Connections or Secrets (a rotated password) wakes exactly the RoomSyncs that use it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from roomsync.config.roomsync import RoomSyncConfig
from roomsync.connectors.base import Capabilities, SecretLookup, SecretNotFound
from roomsync.connectors.registry import CALENDAR_BACKENDS, UnsupportedBackend, backend_of, capabilities
from roomsync.engine import OnRefused
from roomsync.model import Side


class SourceAccessError(Exception):
    """The source may not read an object (the operator's RBAC): reported with the object's name."""


class Source(Protocol):
    """Where Connections and Secrets come from."""

    async def connection(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The Connection object (``spec`` at least), ``None`` when it does not exist."""
        ...

    async def secret(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """The Secret's values as text, ``None`` when it does not exist."""
        ...


@dataclass(frozen=True)
class Dependencies:
    """The Connections and Secrets (names in the RoomSync's namespace) a RoomSync was resolved from."""

    connections: frozenset[str] = frozenset()
    secrets: frozenset[str] = frozenset()


class ResolveError(Exception):
    """A reference that cannot be followed; ``reason`` is the Ready condition's reason, ``message`` names the field."""

    def __init__(self, reason: str, message: str, depends: Dependencies = Dependencies()) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.depends = depends


@dataclass(frozen=True)
class ResolvedConnection:
    """One Connection with the Secret values it names, and a fingerprint of both (secret values never leave)."""

    namespace: str
    name: str
    backend: str
    spec: Mapping[str, Any]
    capabilities: Capabilities
    secrets: Mapping[str, Mapping[str, str]] = field(repr=False)
    fingerprint: str = ""

    def lookup(self, name: str, key: str) -> str:
        data = self.secrets.get(name)
        if data is None:
            raise SecretNotFound(f"Secret {self.namespace}/{name} not found")
        if key not in data:
            raise SecretNotFound(f"Secret {self.namespace}/{name} has no key {key!r}")
        return data[key]

    @property
    def secret_lookup(self) -> SecretLookup:
        return self.lookup


@dataclass(frozen=True)
class Inputs:
    """Everything outside the RoomSync that a cycle needs, and a fingerprint to notice when it changed."""

    connections: Mapping[Side, ResolvedConnection]
    depends: Dependencies

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256("".join(self.connections[s].fingerprint for s in Side).encode()).hexdigest()


#: The backends each side of a RoomSync accepts.
WANTED: Mapping[Side, tuple[str, ...]] = {Side.PLANON: ("planon",), Side.CALENDAR: CALENDAR_BACKENDS}


async def resolve(source: Source, config: RoomSyncConfig) -> Inputs:
    """Read both Connections and their Secrets; raise :class:`ResolveError` naming the field at fault."""
    connection_names: set[str] = set()
    secret_names: set[str] = set()

    def fail(reason: str, message: str) -> ResolveError:
        return ResolveError(reason, message, Dependencies(frozenset(connection_names), frozenset(secret_names)))

    resolved: dict[Side, ResolvedConnection] = {}
    for side, ref in ((Side.PLANON, config.planon_connection), (Side.CALENDAR, config.calendar_connection)):
        field_name = f"spec.{side.value.lower()}.connectionRef"
        connection_names.add(ref)
        resolved[side] = await _connection(source, config.namespace, ref, field_name, secret_names, fail, side)
    _check_policy(config, resolved[Side.CALENDAR], fail)
    return Inputs(resolved, Dependencies(frozenset(connection_names), frozenset(secret_names)))


async def resolve_connection(source: Source, namespace: str, name: str) -> ResolvedConnection:
    """One Connection on its own (``roomsync rooms``), with the checks :func:`resolve` makes."""

    def fail(reason: str, message: str) -> ResolveError:
        return ResolveError(reason, message)

    return await _connection(source, namespace, name, f"Connection {name!r}", set(), fail, None)


async def _connection(
    source: Source,
    namespace: str,
    ref: str,
    field_name: str,
    secret_names: set[str],
    fail: Any,
    side: Side | None,
) -> ResolvedConnection:
    try:
        body = await source.connection(namespace, ref)
    except SourceAccessError as error:
        raise fail(
            "ConnectionNotFound", f"{field_name}: the operator may not read Connection {ref!r}: {error}"
        ) from error
    if body is None:
        raise fail(
            "ConnectionNotFound",
            f"{field_name}: Connection {ref!r} does not exist in namespace {namespace!r}; create it or correct the "
            "reference",
        )
    spec = body.get("spec") or {}
    try:
        backend = backend_of(spec)
        declared = capabilities(backend)
    except UnsupportedBackend as error:
        raise fail("ConnectionNotReady", f"Connection {ref!r}: {error}") from error
    if side is not None and backend not in WANTED[side]:
        wanted = " or ".join(WANTED[side])
        raise fail("InvalidSpec", f"{field_name}: Connection {ref!r} is a {backend} connection; expected {wanted}")
    secrets: dict[str, Mapping[str, str]] = {}
    for path, secret_ref in secret_refs(spec, f"Connection {ref}: spec"):
        name, key = str(secret_ref.get("name", "")), str(secret_ref.get("key", ""))
        secret_names.add(name)
        if name not in secrets:
            try:
                found = await source.secret(namespace, name)
            except SourceAccessError as error:
                raise fail("SecretNotFound", f"{path}: the operator may not read Secret {name!r}: {error}") from error
            if found is None:
                raise fail("SecretNotFound", f"{path}: Secret {name!r} does not exist in namespace {namespace!r}")
            secrets[name] = found
        if key not in secrets[name]:
            raise fail("SecretNotFound", f"{path}: Secret {namespace}/{name} has no key {key!r}")
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode())
    for name in sorted(secrets):  # only the keys the spec names: another key of a shared Secret is no change
        used = sorted(str(r.get("key", "")) for _, r in secret_refs(spec, "") if r.get("name") == name)
        digest.update(json.dumps({k: secrets[name][k] for k in used}, sort_keys=True).encode())
    return ResolvedConnection(namespace, ref, backend, spec, declared, secrets, digest.hexdigest())


def _check_policy(config: RoomSyncConfig, calendar: ResolvedConnection, fail: Any) -> None:
    """Refuse a policy the calendar backend cannot honour (its declared capabilities), naming the field."""
    if calendar.capabilities.answers_requests:
        return
    backend = calendar.backend
    if config.policy.leader is Side.PLANON:
        raise fail(
            "InvalidSpec",
            f"spec.leader: Planon cannot be in the lead with Connection {calendar.name!r}: a {backend} calendar cannot "
            "answer meeting requests on a room's behalf; use leader: Calendar",
        )
    if config.policy.on_refused is OnRefused.DECLINE:
        raise fail(
            "InvalidSpec",
            f"spec.onRefused: Decline needs a calendar that can decline meeting requests; a {backend} calendar "
            "cannot: use Report",
        )


def secret_refs(value: Any, path: str) -> Iterator[tuple[str, Mapping[str, str]]]:
    """Every ``secretRef`` (and ``...SecretRef``, e.g. ``caSecretRef``) in a Connection spec, with its field path."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "secretRef" and isinstance(item, Mapping):
                yield f"{path}.secretRef", item
            elif key.endswith("SecretRef") and isinstance(item, Mapping):
                yield f"{path}.{key}", item
            else:
                yield from secret_refs(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from secret_refs(item, f"{path}[{index}]")


@dataclass
class DictSource:
    """Connections and Secrets held in memory (from manifest files), keyed by ``(namespace, name)``.

    ``environ`` is the fallback for Secret values that are not in the files: ``ROOMSYNC_SECRET_<NAME>_<KEY>``.
    """

    connections: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    secrets: Mapping[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)

    async def connection(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.connections.get((namespace, name))

    async def secret(self, namespace: str, name: str) -> Mapping[str, str] | None:
        data = self.secrets.get((namespace, name))
        if data is not None:
            return data
        prefix = env_name(name, "")
        from_env = {k[len(prefix) :]: v for k, v in self.environ.items() if k.startswith(prefix)}
        return _EnvSecret(name, from_env, self.environ) if from_env else None


class _EnvSecret(dict[str, str]):
    """A Secret spelled as ``ROOMSYNC_SECRET_<NAME>_<KEY>`` variables: keys are looked up by their env spelling."""

    def __init__(self, name: str, values: Mapping[str, str], environ: Mapping[str, str]) -> None:
        super().__init__(values)
        self._name, self._environ = name, environ

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and env_name(self._name, key) in self._environ

    def __getitem__(self, key: str) -> str:
        return self._environ[env_name(self._name, key)]


def env_name(secret: str, key: str) -> str:
    return "ROOMSYNC_SECRET_" + re.sub(r"[^A-Z0-9]", "_", f"{secret}_{key}".upper())
