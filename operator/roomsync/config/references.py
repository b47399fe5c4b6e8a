"""The one path from a RoomSync to what a cycle needs: its two Connections and the Secrets they name.

The CLI reads them from manifest files (:class:`DictSource` with an environment fallback), the operator from the
cluster (``roomsync.k8s.kubeapi``); both resolve here, so a reference that ``roomsync validate`` accepts is one the
operator accepts, with the same message, and the same fingerprint tells the client pool that credentials changed.

Only the RoomSync's namespace is read: the namespace is a tenancy boundary, so a RoomSync can never point at another
team's credentials. The one exception is a cluster-scoped ``ClusterConnection`` (``connectionKind:
ClusterConnection``), set up by the cluster's administrators: it names the namespaces that may use it
(``spec.allowedNamespaces``), and its Secrets live in the operator's own namespace (the *cluster resource namespace*,
as cert-manager keeps a ClusterIssuer's), never in a tenant's. What was read is remembered as the RoomSync's
dependencies, so that a change to one of these Connections or Secrets (a rotated password) wakes exactly the
RoomSyncs that use it.
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


CONNECTION, CLUSTER_CONNECTION = "Connection", "ClusterConnection"
#: Where ClusterConnections' Secrets live unless the operator is told otherwise (the chart's usual namespace).
DEFAULT_CLUSTER_NAMESPACE = "roomsync-system"


class Source(Protocol):
    """Where Connections, ClusterConnections, Secrets and namespace labels come from."""

    #: The namespace holding the Secrets of ClusterConnections (the operator's own).
    cluster_namespace: str

    async def connection(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The Connection object (``spec`` at least), ``None`` when it does not exist."""
        ...

    async def cluster_connection(self, name: str) -> Mapping[str, Any] | None:
        """The ClusterConnection object, ``None`` when it does not exist."""
        ...

    async def namespace_labels(self, name: str) -> Mapping[str, str] | None:
        """A namespace's labels (for ``allowedNamespaces.selector``); ``None`` when they cannot be known here."""
        ...

    async def secret(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """The Secret's values as text, ``None`` when it does not exist."""
        ...


@dataclass(frozen=True)
class Dependencies:
    """The Connections and Secrets (names in the RoomSync's namespace) a RoomSync was resolved from, and the
    ClusterConnections and their Secrets (names in the cluster resource namespace)."""

    connections: frozenset[str] = frozenset()
    secrets: frozenset[str] = frozenset()
    cluster_connections: frozenset[str] = frozenset()
    cluster_secrets: frozenset[str] = frozenset()


@dataclass
class _Reads:
    """What a resolution has read so far: the dependencies of the RoomSync, also when it fails."""

    connections: set[str] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)
    cluster_connections: set[str] = field(default_factory=set)
    cluster_secrets: set[str] = field(default_factory=set)

    def frozen(self) -> Dependencies:
        return Dependencies(
            frozenset(self.connections),
            frozenset(self.secrets),
            frozenset(self.cluster_connections),
            frozenset(self.cluster_secrets),
        )


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

    namespace: str  # where its Secrets live: the RoomSync's namespace, or the cluster resource namespace
    name: str
    backend: str
    spec: Mapping[str, Any]
    capabilities: Capabilities
    secrets: Mapping[str, Mapping[str, str]] = field(repr=False)
    fingerprint: str = ""
    kind: str = CONNECTION

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
    reads = _Reads()

    def fail(reason: str, message: str) -> ResolveError:
        return ResolveError(reason, message, reads.frozen())

    resolved: dict[Side, ResolvedConnection] = {}
    refs = (
        (Side.PLANON, config.planon_connection_kind, config.planon_connection),
        (Side.CALENDAR, config.calendar_connection_kind, config.calendar_connection),
    )
    for side, kind, ref in refs:
        field_name = f"spec.{side.value.lower()}.connectionRef"
        resolved[side] = await _connection(
            source, config.namespace, kind, ref, field_name, reads, fail, side, user=config.namespace
        )
    _check_policy(config, resolved[Side.CALENDAR], fail)
    return Inputs(resolved, reads.frozen())


async def resolve_connection(
    source: Source, namespace: str, name: str, kind: str = CONNECTION, *, user: str | None = None
) -> ResolvedConnection:
    """One Connection on its own (``roomsync rooms``, the operator's Connection check), with the checks
    :func:`resolve` makes. A ClusterConnection is checked against ``allowedNamespaces`` only when a ``user``
    namespace is given."""

    def fail(reason: str, message: str) -> ResolveError:
        return ResolveError(reason, message)

    return await _connection(source, namespace, kind, name, f"{kind} {name!r}", _Reads(), fail, None, user=user)


async def _connection(
    source: Source,
    namespace: str,
    kind: str,
    ref: str,
    field_name: str,
    reads: _Reads,
    fail: Any,
    side: Side | None,
    *,
    user: str | None,
) -> ResolvedConnection:
    cluster = kind == CLUSTER_CONNECTION
    try:
        if cluster:
            reads.cluster_connections.add(ref)
            body = await source.cluster_connection(ref)
        else:
            reads.connections.add(ref)
            body = await source.connection(namespace, ref)
    except SourceAccessError as error:
        raise fail("ConnectionNotFound", f"{field_name}: the operator may not read {kind} {ref!r}: {error}") from error
    if body is None:
        where = "in the cluster" if cluster else f"in namespace {namespace!r}"
        raise fail(
            "ConnectionNotFound",
            f"{field_name}: {kind} {ref!r} does not exist {where}; create it or correct the reference",
        )
    spec = body.get("spec") or {}
    if cluster:
        if user is not None:
            await _check_allowed(source, ref, spec, user, field_name, fail)
        namespace = source.cluster_namespace
    try:
        backend = backend_of(spec)
        declared = capabilities(backend)
    except UnsupportedBackend as error:
        raise fail("ConnectionNotReady", f"{kind} {ref!r}: {error}") from error
    if side is not None and backend not in WANTED[side]:
        wanted = " or ".join(WANTED[side])
        raise fail("InvalidSpec", f"{field_name}: {kind} {ref!r} is a {backend} connection; expected {wanted}")
    secret_names = reads.cluster_secrets if cluster else reads.secrets
    secrets: dict[str, Mapping[str, str]] = {}
    for path, secret_ref in secret_refs(spec, f"{kind} {ref}: spec"):
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
    return ResolvedConnection(namespace, ref, backend, spec, declared, secrets, digest.hexdigest(), kind)


async def _check_allowed(
    source: Source, name: str, spec: Mapping[str, Any], namespace: str, field_name: str, fail: Any
) -> None:
    """A ClusterConnection serves only the namespaces its ``allowedNamespaces`` names or selects."""
    allowed = spec.get("allowedNamespaces") or {}
    if namespace in (allowed.get("names") or []):
        return
    selector = allowed.get("selector")
    labels = await source.namespace_labels(namespace) if selector is not None else None
    if selector is not None and labels is not None and selector_matches(selector, labels):
        return
    unknown = " (its labels are not known here, so allowedNamespaces.selector cannot be checked)"
    raise fail(
        "ConnectionNotAllowed",
        f"{field_name}: ClusterConnection {name!r} does not allow namespace {namespace!r}"
        f"{unknown if selector is not None and labels is None else ''}; a cluster administrator can add it to "
        "spec.allowedNamespaces.names or label the namespace to match spec.allowedNamespaces.selector",
    )


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A Kubernetes ``LabelSelector`` (matchLabels AND matchExpressions); the empty selector matches everything."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


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
    """Connections and Secrets held in memory (from manifest files), keyed by ``(namespace, name)``; ClusterConnections
    by name, their Secrets under ``cluster_namespace``.

    ``environ`` is the fallback for Secret values that are not in the files: ``ROOMSYNC_SECRET_<NAME>_<KEY>``.
    """

    connections: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    secrets: Mapping[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    cluster_connections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    cluster_namespace: str = DEFAULT_CLUSTER_NAMESPACE

    async def connection(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.connections.get((namespace, name))

    async def cluster_connection(self, name: str) -> Mapping[str, Any] | None:
        return self.cluster_connections.get(name)

    async def namespace_labels(self, name: str) -> Mapping[str, str] | None:
        return None  # files carry no Namespace objects: only allowedNamespaces.names can be checked offline

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
