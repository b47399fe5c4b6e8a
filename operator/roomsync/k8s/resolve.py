"""A RoomSync's Connections and the Secrets they name, read from the RoomSync's own namespace.

Only the RoomSync's namespace is ever read: the namespace is a tenancy boundary, so a RoomSync can never point at
another team's credentials. What was read is also remembered as the RoomSync's dependencies, so that a change to
one of these Connections or Secrets (a rotated password) wakes exactly the RoomSyncs that use it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from roomsync.config.bundle import secret_refs
from roomsync.config.roomsync import RoomSyncConfig
from roomsync.connectors.registry import CALENDAR_BACKENDS, SecretLookup, SecretNotFound, UnsupportedBackend, backend_of
from roomsync.k8s.kubeapi import Kube, KubeAccessError
from roomsync.model import Side


@dataclass(frozen=True)
class Dependencies:
    """The Connections and Secrets (names in the RoomSync's namespace) a RoomSync was resolved from."""

    connections: frozenset[str] = frozenset()
    secrets: frozenset[str] = frozenset()


class ResolveError(Exception):
    """A reference that cannot be followed; ``reason`` is the Ready condition's reason."""

    def __init__(self, reason: str, message: str, depends: Dependencies) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.depends = depends


@dataclass(frozen=True)
class Inputs:
    """Everything outside the RoomSync that a cycle needs, and a fingerprint to notice when it changed."""

    connections: Mapping[Side, Mapping[str, Any]]
    secrets: Mapping[str, Mapping[str, str]] = field(repr=False)
    depends: Dependencies
    fingerprint: str

    def lookup(self, namespace: str) -> SecretLookup:
        def lookup(name: str, key: str) -> str:
            data = self.secrets.get(name)
            if data is None:
                raise SecretNotFound(f"Secret {namespace}/{name} not found")
            if key not in data:
                raise SecretNotFound(f"Secret {namespace}/{name} has no key {key!r}")
            return data[key]

        return lookup


def secret_data(body: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's values as text (``data`` is base64; ``stringData`` only appears in manifests, never when read)."""
    values: dict[str, str] = {}
    for key, encoded in (body.get("data") or {}).items():
        try:
            values[key] = base64.b64decode(encoded, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            continue  # the apiserver never stores invalid base64; a broken value is treated as absent
    values.update({k: str(v) for k, v in (body.get("stringData") or {}).items()})
    return values


async def resolve(kube: Kube, config: RoomSyncConfig) -> Inputs:
    """Read both Connections and their Secrets; raise :class:`ResolveError` naming what is missing."""
    namespace = config.namespace
    connections: dict[Side, Mapping[str, Any]] = {}
    secrets: dict[str, dict[str, str]] = {}
    connection_names: set[str] = set()
    secret_names: set[str] = set()

    def fail(reason: str, message: str) -> ResolveError:
        return ResolveError(reason, message, Dependencies(frozenset(connection_names), frozenset(secret_names)))

    for side, ref, wanted in (
        (Side.PLANON, config.planon_connection, ("planon",)),
        (Side.CALENDAR, config.calendar_connection, CALENDAR_BACKENDS),
    ):
        field_name = f"spec.{side.value.lower()}.connectionRef"
        connection_names.add(ref)
        try:
            body = await kube.connection(namespace, ref)
        except KubeAccessError as error:
            raise fail(
                "ConnectionNotFound", f"{field_name}: the operator may not read Connection {ref!r}: {error}"
            ) from error
        if body is None:
            raise fail(
                "ConnectionNotFound",
                f"{field_name}: Connection {ref!r} does not exist in namespace {namespace!r}; "
                "create it or correct the reference",
            )
        spec = body.get("spec") or {}
        try:
            backend = backend_of(spec)
        except UnsupportedBackend as error:
            raise fail("ConnectionNotReady", f"Connection {ref!r}: {error}") from error
        if backend not in wanted:
            raise fail(
                "InvalidSpec",
                f"{field_name}: Connection {ref!r} is a {backend} connection; expected {' or '.join(wanted)}",
            )
        connections[side] = spec
        for path, secret_ref in secret_refs(spec, f"Connection {ref}: spec"):
            name, key = str(secret_ref.get("name", "")), str(secret_ref.get("key", ""))
            secret_names.add(name)
            if name not in secrets:
                try:
                    found = await kube.secret(namespace, name)
                except KubeAccessError as error:
                    raise fail(
                        "SecretNotFound", f"{path}: the operator may not read Secret {name!r}: {error}"
                    ) from error
                if found is None:
                    raise fail("SecretNotFound", f"{path}: Secret {name!r} does not exist in namespace {namespace!r}")
                secrets[name] = secret_data(found)
            if key not in secrets[name]:
                raise fail("SecretNotFound", f"{path}: Secret {namespace}/{name} has no key {key!r}")

    digest = hashlib.sha256(json.dumps([connections[s] for s in Side], sort_keys=True, default=str).encode())
    for name in sorted(secrets):
        digest.update(json.dumps(secrets[name], sort_keys=True).encode())
    return Inputs(
        connections=connections,
        secrets=secrets,
        depends=Dependencies(frozenset(connection_names), frozenset(secret_names)),
        fingerprint=digest.hexdigest(),
    )
