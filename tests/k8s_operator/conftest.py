"""The real kopf operator against a kmock-served Kubernetes API, with in-memory Planon and calendar backends."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import kmock
import kopf
import pytest

from roomsync.connectors import registry
from roomsync.k8s.main import Operator
from roomsync.k8s.options import OperatorOptions
from tests.helpers import NOW
from tests.k8s_operator import memory_backend
from tests.k8s_operator.emulator import ApiServer

NS = "facilities"
ROOMSYNCS = "roomsync.io/v1alpha1/roomsyncs"
CONNECTIONS = "roomsync.io/v1alpha1/connections"
CLUSTER_CONNECTIONS = "roomsync.io/v1alpha1/clusterconnections"
#: Where the operator under test looks for ClusterConnections' Secrets (OperatorOptions.cluster_namespace).
CLUSTER_NS = "roomsync-system"
SECRETS = "v1/secrets"
EVENTS = "v1/events"
PLANON_URL = "https://planon.test/sdk/system/rest/v1"
TENANT = "contoso.test"


@pytest.fixture(autouse=True)
def memory_backends(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Planon and Graph Connections open in-memory stores (see memory_backend)."""
    monkeypatch.setitem(registry.BACKENDS, "planon", "tests.k8s_operator.memory_backend")
    monkeypatch.setitem(registry.BACKENDS, "graph", "tests.k8s_operator.memory_backend")
    memory_backend.SYSTEMS.clear()
    memory_backend.CLIENTS.clear()
    memory_backend.WRITES.clear()
    memory_backend.CALENDAR_READS.clear()
    monkeypatch.setattr(memory_backend, "CALENDAR_READ_SECONDS", 0.0)
    yield
    memory_backend.SYSTEMS.clear()
    memory_backend.CLIENTS.clear()
    memory_backend.WRITES.clear()


@pytest.fixture
async def api() -> AsyncIterator[ApiServer]:
    async with ApiServer() as server, kmock.Server(server):
        yield server


def loop_clock() -> Callable[[], datetime]:
    """Wall time as the test sees it: NOW plus the (looptime-compressed) event loop time."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    return lambda: NOW + timedelta(seconds=loop.time() - start)


def new_operator(
    api: ApiServer, clock: Callable[[], datetime] | None = None, *, lease_thread: bool = True, **options: Any
) -> Operator:
    """An operator (not started) logged in to the emulator, with probes and metrics on free ports."""

    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=str(api.url).rstrip("/"), default_namespace="default")

    defaults: dict[str, Any] = {
        "host": "127.0.0.1",
        "health_port": 0,
        "metrics_port": 0,
        "cluster_namespace": CLUSTER_NS,
    }
    options = {**defaults, **options}
    return Operator(OperatorOptions(**options), login=login, clock=clock or loop_clock(), lease_thread=lease_thread)


@contextlib.asynccontextmanager
async def operator(api: ApiServer, **options: Any) -> AsyncIterator[Operator]:
    """Start the operator inside the test body (kopf must not run in an async fixture: it cancels its tasks)."""
    async with new_operator(api, **options) as running:
        yield running


# -- objects ----------------------------------------------------------------------------------------------------------
def secret(name: str, *, labelled: bool = True, **values: str) -> dict[str, Any]:
    """A Secret; ``labelled``: with ``roomsync.io/credentials``, so the operator watches it (rotations apply)."""
    data = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    meta: dict[str, Any] = {"name": name, "namespace": NS}
    if labelled:
        meta["labels"] = {"roomsync.io/credentials": "true"}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": data}


def planon_connection(name: str = "planon", secret_name: str = "planon-credentials") -> dict[str, Any]:
    return {
        "apiVersion": "roomsync.io/v1alpha1",
        "kind": "Connection",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "planon": {
                "url": PLANON_URL,
                "auth": {"accessKey": {"secretRef": {"name": secret_name, "key": "accessKey"}}},
            }
        },
    }


def graph_connection(name: str = "exchange", secret_name: str = "graph-credentials") -> dict[str, Any]:
    return {
        "apiVersion": "roomsync.io/v1alpha1",
        "kind": "Connection",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "graph": {
                "tenantId": TENANT,
                "clientId": "11111111-2222-3333-4444-555555555555",
                "auth": {"clientSecret": {"secretRef": {"name": secret_name, "key": "clientSecret"}}},
            }
        },
    }


def roomsync(name: str = "hq", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "planon": {"connectionRef": "planon"},
        "calendar": {"connectionRef": "exchange"},
        "rooms": [
            {"planon": "MR-1", "calendar": "mr-1@contoso.com"},
            {"planon": "MR-2", "calendar": "mr-2@contoso.com"},
        ],
        "interval": "60s",
    }
    body.update(spec)
    return {
        "apiVersion": "roomsync.io/v1alpha1",
        "kind": "RoomSync",
        "metadata": {"name": name, "namespace": NS},
        "spec": body,
    }


async def create(api: ApiServer, resource: str, body: dict[str, Any]) -> dict[str, Any]:
    namespace = body["metadata"].get("namespace")
    group_version, plural = resource.rsplit("/", 1)
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    where = f"/namespaces/{namespace}" if namespace else ""  # cluster-scoped without one
    async with api.post(f"{prefix}{where}/{plural}", json=body) as response:
        assert response.status < 300, await response.text()
        created: dict[str, Any] = await response.json()
        return created


async def patch(api: ApiServer, resource: str, name: str, change: dict[str, Any]) -> dict[str, Any]:
    group_version, plural = resource.rsplit("/", 1)
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    url = f"{prefix}/namespaces/{NS}/{plural}/{name}"
    headers = {"Content-Type": "application/merge-patch+json"}
    async with api.patch(url, json=change, headers=headers) as response:
        assert response.status < 300, await response.text()
        patched: dict[str, Any] = await response.json()
        return patched


async def delete(api: ApiServer, resource: str, name: str) -> None:
    group_version, plural = resource.rsplit("/", 1)
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    async with api.delete(f"{prefix}/namespaces/{NS}/{plural}/{name}") as response:
        assert response.status < 300, await response.text()


async def setup_connections(api: ApiServer, *, password: str = memory_backend.PASSWORD) -> None:
    await create(api, SECRETS, secret("planon-credentials", accessKey=password))
    await create(api, SECRETS, secret("graph-credentials", clientSecret=password))
    await create(api, CONNECTIONS, planon_connection())
    await create(api, CONNECTIONS, graph_connection())


def condition(body: dict[str, Any] | None, type_: str = "Ready") -> dict[str, Any] | None:
    for item in ((body or {}).get("status") or {}).get("conditions", []):
        if item["type"] == type_:
            return dict(item)
    return None


async def eventually(check: Callable[[], Any], seconds: float = 30.0, step: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy (loop time; looptime makes the waiting free)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = check()
        if value:
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"condition not met within {seconds}s; last value: {value!r}")
        await asyncio.sleep(step)


def events(api: ApiServer, reason: str | None = None) -> list[dict[str, Any]]:
    found = []
    for (resource, _ns, _name), obj in api.objects.items():
        if resource == kmock.resource(EVENTS) and not obj.deleted:
            raw = obj.raw
            if reason is None or raw.get("reason") == reason:
                found.append(raw)
    return found
