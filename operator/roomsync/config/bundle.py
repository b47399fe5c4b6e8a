"""Manifests from files turned into runnable RoomSyncs: validated, defaulted, references resolved.

A RoomSync may only use Connections and Secrets of its own namespace. Secrets come from ``kind: Secret`` documents
in the same files (``stringData`` or base64 ``data``) or from the environment as ``ROOMSYNC_SECRET_<NAME>_<KEY>``
(upper case, other characters as ``_``), so credentials never need to sit in a file.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roomsync.config.crds import apply_defaults, validate_object
from roomsync.config.manifests import Document, ManifestError, load_files
from roomsync.config.roomsync import RoomSyncConfig
from roomsync.connectors.registry import CALENDAR_BACKENDS, SecretLookup, SecretNotFound, backend_of
from roomsync.model import UnknownTimeZone, to_iana

Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Bundle:
    roomsyncs: list[RoomSyncConfig] = field(default_factory=list)
    connections: dict[Key, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[Key, dict[str, str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def ok(self) -> bool:
        return not self.problems

    def secret_lookup(self, namespace: str) -> SecretLookup:
        """Secrets of one namespace only: a RoomSync can never read another namespace's credentials."""

        def lookup(name: str, key: str) -> str:
            data = self.secrets.get((namespace, name))
            if data is not None:
                if key in data:
                    return data[key]
                raise SecretNotFound(f"Secret {namespace}/{name} has no key {key!r}")
            value = self.environ.get(env_name(name, key))
            if value is None:
                raise SecretNotFound(
                    f"Secret {namespace}/{name} not found (neither in the files nor as ${env_name(name, key)})"
                )
            return value

        return lookup

    def connection(self, namespace: str, name: str) -> dict[str, Any]:
        spec: dict[str, Any] = self.connections[(namespace, name)]["spec"]
        return spec


def env_name(secret: str, key: str) -> str:
    return "ROOMSYNC_SECRET_" + re.sub(r"[^A-Z0-9]", "_", f"{secret}_{key}".upper())


def load_bundle(paths: Sequence[str | Path], environ: Mapping[str, str] | None = None) -> Bundle:
    bundle = Bundle(environ=dict(os.environ if environ is None else environ))
    try:
        documents = load_files(paths)
    except ManifestError as error:
        bundle.problems.append(Problem("input", str(error)))
        return bundle
    if not documents:
        bundle.problems.append(Problem("input", "no manifests found in " + ", ".join(map(str, paths))))
    return fill(bundle, documents)


def fill(bundle: Bundle, documents: Sequence[Document]) -> Bundle:
    roomsync_docs: list[tuple[Document, dict[str, Any]]] = []
    for document in documents:
        errors = validate_object(document.body)
        if errors:
            bundle.problems.extend(Problem(document.where, str(e)) for e in errors)
            continue
        body = apply_defaults(document.body)
        semantic = list(_semantic_problems(body))
        if semantic:
            bundle.problems.extend(Problem(document.where, p) for p in semantic)
            continue
        kind, meta = body["kind"], body.get("metadata", {})
        key = (meta.get("namespace") or "default", meta.get("name", ""))
        if kind == "Secret":
            bundle.secrets[key] = _secret_data(body)
        elif kind == "Connection":
            bundle.connections[key] = body
        elif kind == "RoomSync":
            roomsync_docs.append((document, body))
    for document, body in roomsync_docs:
        config = RoomSyncConfig.from_manifest(body)
        problems = list(_reference_problems(bundle, config))
        bundle.problems.extend(Problem(document.where, p) for p in problems)
        if not problems:
            bundle.roomsyncs.append(config)
    return bundle


def _semantic_problems(body: Mapping[str, Any]) -> Iterator[str]:
    """What no schema or CEL rule can check: time-zone names against the tz database."""
    if body.get("kind") != "Connection":
        return
    for backend, settings in (body.get("spec") or {}).items():
        zone_name = settings.get("timeZone") if isinstance(settings, Mapping) else None
        if zone_name is not None:
            try:
                to_iana(str(zone_name))
            except UnknownTimeZone as error:
                yield f"spec.{backend}.timeZone: {error}"


def _secret_data(body: Mapping[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (body.get("data") or {}).items()}
    data.update({k: str(v) for k, v in (body.get("stringData") or {}).items()})
    return data


def _reference_problems(bundle: Bundle, config: RoomSyncConfig) -> Iterator[str]:
    for field_name, ref, wanted in (
        ("spec.planon.connectionRef", config.planon_connection, ("planon",)),
        ("spec.calendar.connectionRef", config.calendar_connection, CALENDAR_BACKENDS),
    ):
        connection = bundle.connections.get((config.namespace, ref))
        if connection is None:
            yield f"{field_name}: Connection {ref!r} not found in namespace {config.namespace!r}"
            continue
        backend = backend_of(connection["spec"])
        if backend not in wanted:
            yield f"{field_name}: Connection {ref!r} is a {backend} connection; expected {' or '.join(wanted)}"
            continue
        lookup = bundle.secret_lookup(config.namespace)
        for path, ref_value in secret_refs(connection["spec"], f"Connection {ref}: spec"):
            try:
                lookup(ref_value["name"], ref_value["key"])
            except SecretNotFound as missing:
                yield f"{path}: {missing}"


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
