"""Manifests from files turned into runnable RoomSyncs: validated, defaulted, references resolved.

A RoomSync may only use Connections and Secrets of its own namespace. Secrets come from ``kind: Secret`` documents
in the same files (``stringData`` or base64 ``data``) or from the environment as ``ROOMSYNC_SECRET_<NAME>_<KEY>``
(upper case, other characters as ``_``), so credentials never need to sit in a file. References are followed by
:func:`roomsync.config.references.resolve`, the path the operator takes too.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roomsync.config.claims import conflicts
from roomsync.config.crds import apply_defaults, owned, validate_object
from roomsync.config.manifests import Document, ManifestError, load_files
from roomsync.config.references import CLUSTER_CONNECTION, DictSource, Inputs, ResolveError, resolve
from roomsync.config.roomsync import RoomSyncConfig
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
    """What the files hold. RoomSyncs are ready to run once :meth:`resolve` has followed their references."""

    roomsyncs: list[RoomSyncConfig] = field(default_factory=list)
    connections: dict[Key, dict[str, Any]] = field(default_factory=dict)
    cluster_connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[Key, dict[str, str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    #: where each RoomSync was read (file and document), for problems found when resolving it
    places: dict[str, str] = field(default_factory=dict)
    #: documents of kinds roomsync does not own (Kustomization, ExternalSecret ...), left to their own tools
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def source(self) -> DictSource:
        return DictSource(self.connections, self.secrets, self.environ, self.cluster_connections)

    async def resolve(self) -> list[tuple[RoomSyncConfig, Inputs]]:
        """Each RoomSync with its Connections and Secrets; a reference that cannot be followed, or a room another
        RoomSync in the files already claims, is a problem."""
        ready = []
        for config in self.roomsyncs:
            try:
                ready.append((config, await resolve(self.source, config)))
            except ResolveError as error:
                self.problems.append(Problem(self.places.get(config.key, config.key), error.message))
        lost = conflicts(self.roomsyncs, self._connection_spec)
        for key, found in lost.items():
            self.problems.extend(Problem(self.places.get(key, key), conflict.message) for conflict in found)
        return [(config, inputs) for config, inputs in ready if config.key not in lost]

    def _connection_spec(self, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None:
        if kind == CLUSTER_CONNECTION:
            body = self.cluster_connections.get(name)
        else:
            body = self.connections.get((namespace, name))
        return None if body is None else body.get("spec")


def load_bundle(
    paths: Sequence[str | Path], environ: Mapping[str, str] | None = None, *, other_kinds: bool = False
) -> Bundle:
    """Read, validate and default the manifests (references are followed by :meth:`Bundle.resolve`).

    Documents of kinds roomsync does not own are skipped (listed in ``skipped``) unless ``other_kinds``, which
    reports them as errors (a folder that should hold only RoomSync objects).
    """
    bundle = Bundle(environ=dict(os.environ if environ is None else environ))
    try:
        documents = load_files(paths)
    except ManifestError as error:
        bundle.problems.append(Problem("input", str(error)))
        return bundle
    if not documents:
        bundle.problems.append(Problem("input", "no manifests found in " + ", ".join(map(str, paths))))
    return fill(bundle, documents, other_kinds=other_kinds)


def fill(bundle: Bundle, documents: Sequence[Document], *, other_kinds: bool = False) -> Bundle:
    for document in documents:
        if not other_kinds and not owned(document.body):
            bundle.skipped.append(document.where)
            continue
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
        elif kind == CLUSTER_CONNECTION:
            bundle.cluster_connections[meta.get("name", "")] = body
        elif kind == "RoomSync":
            config = RoomSyncConfig.from_manifest(body)
            bundle.roomsyncs.append(config)
            bundle.places[config.key] = document.where
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
