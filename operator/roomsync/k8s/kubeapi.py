"""The few Kubernetes API calls the controller makes itself, with the credentials kopf's login produced.

Reading a Connection or Secret, writing a RoomSync's or Connection's status and holding the shard Leases
(:mod:`roomsync.k8s.sharding`) happen outside kopf's handler machinery (status is written from long-running tasks,
which kopf's handler ``patch`` cannot serve). The login handler (:func:`roomsync.k8s.main.tracked`) keeps the
``kopf.ConnectionInfo`` it returns to kopf; :class:`ApiKube` talks to the same API server with those credentials
over aiohttp, so there is one login and no use of kopf's private client. A login that kopf repeats (credentials
expired: kopf's own requests got a 401) refreshes them here too. The cluster commands of the CLI (``roomsync
status``, ``reconcile``, ...) use the same class with credentials from the kubeconfig (:mod:`roomsync.k8s.kubeconfig`).
"""

from __future__ import annotations

import base64
import builtins
import logging
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import kopf

from roomsync.k8s.settings import GROUP, VERSION

log = logging.getLogger(__name__)

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
TIMEOUT = aiohttp.ClientTimeout(total=30)
LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"


class KubeAccessError(Exception):
    """The operator may not read an object (403): a RoomSync can only be fixed by changing RBAC."""


class Kube(Protocol):
    async def connection(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def cluster_connection(self, name: str) -> dict[str, Any] | None: ...

    async def namespace(self, name: str) -> dict[str, Any] | None: ...

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def patch_status(self, plural: str, namespace: str | None, name: str, status: Mapping[str, Any]) -> bool: ...

    async def get(self, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None: ...

    async def patch(
        self, plural: str, namespace: str | None, name: str, change: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    async def patch_json(
        self, plural: str, namespace: str | None, name: str, operations: Sequence[Mapping[str, Any]]
    ) -> bool: ...


def custom_path(plural: str, namespace: str | None, name: str | None = None, subresource: str | None = None) -> str:
    """The path of a roomsync.io object (``namespace`` None: cluster-scoped; ``name`` None: the collection)."""
    path = f"/apis/{GROUP}/{VERSION}" + (f"/namespaces/{quote(namespace)}" if namespace is not None else "")
    path += f"/{plural}" + (f"/{quote(name)}" if name is not None else "")
    return f"{path}/{subresource}" if subresource else path


def secret_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{quote(namespace)}/secrets/{quote(name)}"


class Credentials:
    """The latest ``kopf.ConnectionInfo`` a login handler produced (set by the login wrapper)."""

    def __init__(self) -> None:
        self.info: kopf.ConnectionInfo | None = None
        self.generation = 0

    def update(self, info: kopf.ConnectionInfo) -> None:
        self.info, self.generation = info, self.generation + 1


class ApiKube:
    """:class:`Kube` over aiohttp with the operator's login credentials.

    ``user_agent`` names the replica (``roomsync/<version> (<identity>)``), so the API server's audit log tells which
    replica wrote a status or a Lease.
    """

    def __init__(self, credentials: Credentials, *, user_agent: str | None = None) -> None:
        self.credentials = credentials
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._session_generation = -1

    async def _request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        info = self.credentials.info
        if info is None:
            raise KubeAccessError("not logged in to the Kubernetes API yet")
        session = await self._session_for(info)
        headers = dict(kwargs.pop("headers", {}))
        if info.token:
            headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
        async with session.request(method, info.server.rstrip("/") + path, headers=headers, **kwargs) as response:
            body = await response.json(content_type=None) if response.content_length != 0 else None
            return response.status, body

    async def _session_for(self, info: kopf.ConnectionInfo) -> aiohttp.ClientSession:
        if self._session is not None and self._session_generation == self.credentials.generation:
            return self._session
        if self._session is not None:
            await self._session.close()
        auth = aiohttp.BasicAuth(info.username, info.password or "") if info.username and not info.token else None
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=_ssl_context(info)),
            headers={"User-Agent": self.user_agent} if self.user_agent else None,
            auth=auth,
            timeout=TIMEOUT,
            trust_env=bool(info.trust_env),
        )
        self._session_generation = self.credentials.generation
        return self._session

    async def _get(self, path: str) -> dict[str, Any] | None:
        status, body = await self._request("GET", path)
        if status == 404:
            return None
        if status == 403:
            raise KubeAccessError(f"forbidden to read {path}: {_message(body)}")
        if status >= 400 or not isinstance(body, dict):
            raise KubeAccessError(f"reading {path} failed with HTTP {status}: {_message(body)}")
        return body

    async def connection(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._get(custom_path("connections", namespace, name))

    async def cluster_connection(self, name: str) -> dict[str, Any] | None:
        return await self._get(custom_path("clusterconnections", None, name))

    async def namespace(self, name: str) -> dict[str, Any] | None:
        return await self._get(f"/api/v1/namespaces/{quote(name)}")

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._get(secret_path(namespace, name))

    async def get(self, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return await self._get(custom_path(plural, namespace, name))

    async def list(self, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        """Every object of a roomsync.io kind in ``namespace`` (None: all namespaces, or a cluster-scoped kind)."""
        found = await self._get(custom_path(plural, namespace))
        if found is None:
            raise KubeAccessError(f"{plural}.{GROUP} is not served by this cluster: are the RoomSync CRDs installed?")
        return list(found.get("items") or [])

    async def patch(self, plural: str, namespace: str | None, name: str, change: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch an object (spec, annotations); raises when it is missing or the patch is refused."""
        code, body = await self._request(
            "PATCH", custom_path(plural, namespace, name), headers=MERGE_PATCH, json=change
        )
        if code >= 400 or not isinstance(body, dict):
            raise KubeAccessError(f"changing {plural}/{name} failed with HTTP {code}: {_message(body)}")
        return body

    async def patch_json(
        self, plural: str, namespace: str | None, name: str, operations: Sequence[Mapping[str, Any]]
    ) -> bool:
        """JSON-patch an object (RFC 6902, with ``test`` operations); False when a test failed or it is gone."""
        headers = {"Content-Type": "application/json-patch+json"}
        code, body = await self._request(
            "PATCH", custom_path(plural, namespace, name), headers=headers, json=operations
        )
        if code in (404, 409, 422):
            return False
        if code >= 400:
            raise KubeAccessError(f"changing {plural}/{name} failed with HTTP {code}: {_message(body)}")
        return True

    async def patch_status(self, plural: str, namespace: str | None, name: str, status: Mapping[str, Any]) -> bool:
        """Merge-patch ``status`` through the status subresource; False when the object is gone."""
        path = custom_path(plural, namespace, name, "status")
        code, body = await self._request("PATCH", path, headers=MERGE_PATCH, json={"status": dict(status)})
        if code == 404:
            return False
        if code >= 400:
            where = f"{namespace}/{name}" if namespace else name
            raise KubeAccessError(f"writing the status of {plural} {where} failed with HTTP {code}: {_message(body)}")
        return True

    # -- Leases (coordination.k8s.io/v1): the shards of a sharded operator ---------------------------------------------
    async def list_leases(self, namespace: str, selector: str) -> builtins.list[dict[str, Any]]:
        path = LEASES.format(namespace=quote(namespace))
        code, body = await self._request("GET", path, params={"labelSelector": selector})
        if code >= 400 or not isinstance(body, dict):
            raise KubeAccessError(f"listing the Leases in {namespace} failed with HTTP {code}: {_message(body)}")
        return list(body.get("items") or [])

    async def create_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create a Lease; None when one of that name exists already (another replica was first)."""
        code, answer = await self._request("POST", LEASES.format(namespace=quote(namespace)), json=dict(body))
        return _lease_answer(code, answer, f"creating Lease {body['metadata']['name']}")

    async def replace_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Replace a Lease, on condition that its ``metadata.resourceVersion`` is still current; None when it is not
        (409: another replica changed it first) or the Lease is gone."""
        name = body["metadata"]["name"]
        path = LEASES.format(namespace=quote(namespace)) + f"/{quote(name)}"
        code, answer = await self._request("PUT", path, json=dict(body))
        return _lease_answer(code, answer, f"writing Lease {name}")

    async def delete_lease(self, namespace: str, name: str, resource_version: str) -> bool:
        """Delete a Lease if it is still at ``resource_version``; False when it changed or is gone."""
        path = LEASES.format(namespace=quote(namespace)) + f"/{quote(name)}"
        options = {"preconditions": {"resourceVersion": resource_version}}
        code, answer = await self._request("DELETE", path, json=options)
        return _lease_answer(code, answer, f"deleting Lease {name}") is not None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _lease_answer(code: int, body: Any, doing: str) -> dict[str, Any] | None:
    if code in (404, 409):  # gone, or another replica was first: a lost race, not a failure
        return None
    if code >= 400 or not isinstance(body, dict):
        raise KubeAccessError(f"{doing} failed with HTTP {code}: {_message(body)}")
    return body


def _ssl_context(info: kopf.ConnectionInfo) -> ssl.SSLContext | bool:
    if not info.server.startswith("https"):
        return False
    context = ssl.create_default_context(cafile=info.ca_path)
    if info.ca_data:
        context.load_verify_locations(cadata=_text(info.ca_data))
    if info.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    cert, key = info.certificate_path, info.private_key_path
    if info.certificate_data and info.private_key_data:
        # load_cert_chain reads files only: write the inline client certificate to private temporary files
        cert, key = _temp_file(info.certificate_data), _temp_file(info.private_key_data)
    if cert:
        context.load_cert_chain(cert, key)
    return context


def _text(data: bytes | str) -> str:
    if isinstance(data, bytes):
        return data.decode()
    return data if "-----BEGIN" in data else base64.b64decode(data).decode()


def _temp_file(data: bytes | str) -> str:
    handle = tempfile.NamedTemporaryFile("w", prefix="roomsync-kube-", delete=False)  # noqa: SIM115
    with handle:
        handle.write(_text(data))
    return handle.name


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("reason") or body)
    return str(body)
