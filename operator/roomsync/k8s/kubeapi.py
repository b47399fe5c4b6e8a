"""The few Kubernetes API calls the controller makes itself, through kopf's own authenticated client.

Reading a Connection or Secret and writing a RoomSync's status happen outside kopf's handler machinery (the status
is written from a long-running daemon, and kopf applies a daemon's ``patch`` only when it exits). Going through
kopf's client means the same credentials, TLS settings, retries and re-login on expiry as kopf's own watches, with
no second Kubernetes client to configure. The client is kopf-internal (``kopf._cogs``); this module is the only
place that touches it, so a kopf upgrade that moves it changes one file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

import kopf
from kopf._cogs.clients import api as _api
from kopf._cogs.clients import errors as _errors

from roomsync.k8s.settings import GROUP, VERSION

log = logging.getLogger(__name__)

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


class KubeAccessError(Exception):
    """The operator may not read an object (403): a RoomSync can only be fixed by changing RBAC."""


class Kube(Protocol):
    async def connection(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def patch_roomsync_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> bool: ...


def custom_path(plural: str, namespace: str, name: str, subresource: str | None = None) -> str:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{quote(namespace)}/{plural}/{quote(name)}"
    return f"{path}/{subresource}" if subresource else path


def secret_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{quote(namespace)}/secrets/{quote(name)}"


class KopfKube:
    """:class:`Kube` over kopf's API client; only usable inside a running operator (handlers, daemons)."""

    def __init__(self, settings: kopf.OperatorSettings) -> None:
        self.settings = settings

    async def _get(self, path: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await _api.get(path, settings=self.settings, logger=log)
        except _errors.APINotFoundError:
            return None
        except _errors.APIForbiddenError as error:
            raise KubeAccessError(f"forbidden to read {path}: {error}") from error
        return found

    async def connection(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._get(custom_path("connections", namespace, name))

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._get(secret_path(namespace, name))

    async def patch_roomsync_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> bool:
        """Merge-patch ``status`` through the status subresource; False when the RoomSync is gone."""
        try:
            await _api.patch(
                custom_path("roomsyncs", namespace, name, "status"),
                headers=MERGE_PATCH,
                payload={"status": dict(status)},
                settings=self.settings,
                logger=log,
            )
        except _errors.APINotFoundError:
            return False
        return True
