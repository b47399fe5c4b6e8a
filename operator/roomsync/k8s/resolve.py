"""The cluster as a :class:`~roomsync.config.references.Source`: Connections and Secrets read through the API.

Resolution itself (what is checked, the messages, the fingerprint) is :func:`roomsync.config.references.resolve`,
the same path ``roomsync validate``, ``plan`` and ``sync`` take on files.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from roomsync.config.references import DEFAULT_CLUSTER_NAMESPACE, SourceAccessError
from roomsync.k8s.kubeapi import Kube, KubeAccessError


class KubeSource:
    """Reads from the namespace the caller passes (the RoomSync's own); a ClusterConnection's Secrets from
    ``cluster_namespace``. Secret values come back as text."""

    def __init__(self, kube: Kube, cluster_namespace: str = DEFAULT_CLUSTER_NAMESPACE) -> None:
        self.kube = kube
        self.cluster_namespace = cluster_namespace

    async def connection(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        try:
            return await self.kube.connection(namespace, name)
        except KubeAccessError as error:
            raise SourceAccessError(str(error)) from error

    async def cluster_connection(self, name: str) -> Mapping[str, Any] | None:
        try:
            return await self.kube.cluster_connection(name)
        except KubeAccessError as error:
            raise SourceAccessError(str(error)) from error

    async def namespace_labels(self, name: str) -> Mapping[str, str] | None:
        try:
            body = await self.kube.namespace(name)
        except KubeAccessError:
            return None  # labels unknown: only allowedNamespaces.names can admit the namespace
        return {} if body is None else dict((body.get("metadata") or {}).get("labels") or {})

    async def secret(self, namespace: str, name: str) -> Mapping[str, str] | None:
        try:
            body = await self.kube.secret(namespace, name)
        except KubeAccessError as error:
            raise SourceAccessError(str(error)) from error
        return None if body is None else secret_data(body)


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
