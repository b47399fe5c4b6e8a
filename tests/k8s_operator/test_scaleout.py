"""Scale-out by scope: a label selector, namespace scoping (replicas sharing shard Leases: test_sharding.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.k8s_operator.conftest import (
    NS,
    ROOMSYNCS,
    condition,
    create,
    eventually,
    operator,
    roomsync,
    setup_connections,
)

pytestmark = [pytest.mark.looptime]


def handled(api: Any, name: str, namespace: str = NS) -> bool:
    body = api.read(ROOMSYNCS, namespace, name) or {}
    return bool(body.get("status") or body.get("metadata", {}).get("finalizers"))


def labelled(name: str, shard: str) -> dict[str, Any]:
    body = roomsync(name)
    body["metadata"]["labels"] = {"roomsync.io/shard": shard}
    return body


async def test_label_selector_shards_roomsyncs_server_side(api):
    await setup_connections(api)
    async with operator(api, selector="roomsync.io/shard=a"):
        await create(api, ROOMSYNCS, labelled("ours", "a"))
        await create(api, ROOMSYNCS, labelled("theirs", "b"))
        await eventually(lambda: condition(api.read(ROOMSYNCS, NS, "ours")))
        await asyncio.sleep(120)  # two intervals: the other shard's RoomSync is never touched
    assert not handled(api, "theirs")
    lists = [r for r in api._requests if r.method == "GET" and r.url.path.endswith("/roomsyncs")]
    assert lists and all(r.params.get("labelSelector") == "roomsync.io/shard=a" for r in lists)
    connections = [r for r in api._requests if r.method == "GET" and r.url.path.endswith("/connections")]
    assert connections and not any("labelSelector" in r.params for r in connections)  # Connections stay visible
    secrets = [r for r in api._requests if r.method == "GET" and r.url.path.endswith("/secrets")]
    assert secrets and all(r.params.get("labelSelector") == "roomsync.io/credentials" for r in secrets)


def in_namespace(body: dict[str, Any], namespace: str) -> dict[str, Any]:
    body["metadata"]["namespace"] = namespace
    return body


async def test_namespace_scoping_leaves_other_namespaces_alone(api):
    await setup_connections(api)
    async with operator(api, namespaces=(NS,)):
        await create(api, ROOMSYNCS, roomsync())
        await create(api, ROOMSYNCS, in_namespace(roomsync("elsewhere"), "other-team"))
        await eventually(lambda: condition(api.read(ROOMSYNCS, NS, "hq")))
        await asyncio.sleep(120)
    assert not handled(api, "elsewhere", "other-team")
    watched = {r.url.path for r in api._requests if r.method == "GET" and r.params.get("watch") == "true"}
    assert f"/apis/roomsync.io/v1alpha1/namespaces/{NS}/roomsyncs" in watched
    assert "/apis/roomsync.io/v1alpha1/roomsyncs" not in watched


async def test_connections_are_never_read_across_namespaces(api):
    await setup_connections(api)  # Connections and Secrets exist in NS only
    async with operator(api):
        await create(api, ROOMSYNCS, in_namespace(roomsync("borrower"), "other-team"))
        body = await eventually(
            lambda: (
                (c := condition(api.read(ROOMSYNCS, "other-team", "borrower")))
                and c["reason"] == "ConnectionNotFound"
                and api.read(ROOMSYNCS, "other-team", "borrower")
            )
        )
    assert "namespace 'other-team'" in condition(body)["message"]
    reads = [r.url.path for r in api._requests if r.method == "GET" and "/namespaces/" in r.url.path]
    # NS's Connections are read once each, by their own health check, never on behalf of the borrower
    for name in ("planon", "exchange"):
        assert reads.count(f"/apis/roomsync.io/v1alpha1/namespaces/{NS}/connections/{name}") == 1
