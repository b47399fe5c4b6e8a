"""The health view through the real operator: Connection status, kept failures, dry-run plans and the Mode column,
ClusterConnections with their namespace rules, and one owner per room."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from roomsync.connectors.memory import MemoryStore
from roomsync.model import Side
from tests.helpers import booking
from tests.k8s_operator import memory_backend
from tests.k8s_operator.conftest import (
    CLUSTER_CONNECTIONS,
    CLUSTER_NS,
    CONNECTIONS,
    NS,
    PLANON_URL,
    ROOMSYNCS,
    SECRETS,
    TENANT,
    condition,
    create,
    delete,
    eventually,
    graph_connection,
    operator,
    patch,
    planon_connection,
    roomsync,
    secret,
    setup_connections,
)
from tests.k8s_operator.test_lifecycle import assert_valid, ready

pytestmark = [pytest.mark.looptime]

CONN = "roomsync.io/v1alpha1/connections"


def conditions(body: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in ((body or {}).get("status") or {}).get("conditions", [])}


def checked(api: Any, name: str, namespace: str | None = NS, **expected: str) -> Any:
    body = api.read(CLUSTER_CONNECTIONS if namespace is None else CONNECTIONS, namespace, name)
    found = conditions(body)
    return body if all(found.get(t, {}).get("status") == s for t, s in expected.items()) else None


async def test_connection_status_reports_reachable_authenticated_and_rooms(api):
    memory_backend.system(TENANT, Side.CALENDAR).put(booking("c-1", 9, rooms=("MR-1",)))
    memory_backend.system(TENANT, Side.CALENDAR).put(booking("c-2", 10, rooms=("MR-2",)))
    await setup_connections(api)
    async with operator(api):
        graph = await eventually(
            lambda: checked(api, "exchange", Ready="True", Reachable="True", Authenticated="True", RoomsVisible="True")
        )
        # Planon has no room discovery: the check cannot ask it; a RoomSync's cycle proves it works
        planon = await eventually(lambda: checked(api, "planon", Ready="True", RoomsVisible="Unknown"))
        assert conditions(planon)["Reachable"]["status"] == "Unknown"
        await create(api, ROOMSYNCS, roomsync())
        await eventually(lambda: ready(api))
        planon = await eventually(lambda: checked(api, "planon", Reachable="True", Authenticated="True"))
    status = graph["status"]
    assert status["backend"] == "graph" and status["roomsVisible"] == 2
    assert all(c["observedGeneration"] == graph["metadata"]["generation"] for c in status["conditions"])
    assert "2 room(s) visible" in conditions(graph)["RoomsVisible"]["message"]
    assert planon["status"]["backend"] == "planon"
    assert_valid(graph)
    assert_valid(planon)


async def test_connection_with_rejected_credentials_is_reachable_but_not_authenticated(api):
    await setup_connections(api, password="wrong")
    async with operator(api):
        body = await eventually(lambda: checked(api, "exchange", Ready="False", Authenticated="False"))
        assert conditions(body)["Reachable"]["status"] == "True"
        assert conditions(body)["Ready"]["reason"] == "AuthenticationFailed"
        # a spec change is checked again at once and the new generation is observed
        changed = graph_connection()
        changed["spec"]["graph"]["clientId"] = "99999999-2222-3333-4444-555555555555"
        await patch(api, CONNECTIONS, "exchange", {"spec": changed["spec"]})
        body = await eventually(
            lambda: (b := api.read(CONN, NS, "exchange")) and conditions(b)["Ready"]["observedGeneration"] == 2 and b
        )
    assert body["status"]["observedGeneration"] == 2


async def test_missing_secret_makes_the_connection_not_ready(api):
    await create(api, CONNECTIONS, graph_connection(secret_name="nowhere"))
    async with operator(api):
        body = await eventually(lambda: checked(api, "exchange", Ready="False"))
    assert conditions(body)["Ready"]["reason"] == "SecretNotFound"
    assert "nowhere" in conditions(body)["Ready"]["message"]
    assert conditions(body)["Authenticated"]["status"] == "Unknown"


def refusing_planon() -> tuple[MemoryStore, MemoryStore]:
    """Planon refuses a booking over an existing one in the same room, as its availability check does."""
    planon = memory_backend.SYSTEMS[PLANON_URL] = MemoryStore(Side.PLANON, refuse_overlaps=True)
    calendar = memory_backend.system(TENANT, Side.CALENDAR)
    planon.put(booking("p-0", 9, subject="Board meeting", rooms=("MR-1",)))
    return planon, calendar


async def test_refused_bookings_are_kept_across_cycles_bounded_and_deduplicated(api):
    _, calendar = refusing_planon()
    calendar.put(booking("c-1", 9, minutes=30, subject="Budget pre-read", rooms=("MR-1",)))  # overlaps p-0
    await setup_connections(api)
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync(leader="Calendar", interval="10s"))
        body = await eventually(
            lambda: (
                (b := api.read(ROOMSYNCS, NS, "hq"))
                and any(f.get("count", 0) >= 3 for f in (b.get("status") or {}).get("failures", []))
                and b
            ),
            seconds=60,
        )
        # a later cycle that refuses nothing new keeps the entry
        calendar.bookings.pop("c-1")
        await eventually(lambda: api.read(ROOMSYNCS, NS, "hq")["status"]["lastCycle"]["failed"] == 0)
        kept = api.read(ROOMSYNCS, NS, "hq")
    (failure,) = body["status"]["failures"]
    assert failure["side"] == "Planon" and failure["room"] == "MR-1" and failure["subject"] == "Budget pre-read"
    assert failure["reason"] == "BookingRefused" and failure["action"] == "create"
    assert failure["start"] == "2026-03-02T09:00:00Z"
    assert failure["firstSeen"] < failure["lastSeen"]
    assert kept["status"]["failures"][0]["subject"] == "Budget pre-read"
    assert_valid(kept)


async def test_dry_run_lists_the_plan_and_mode_follows_the_spec(api):
    planon = memory_backend.system(PLANON_URL, Side.PLANON)
    planon.put(booking("p-1", 9, subject="Budget review", rooms=("MR-1",)))
    planon.put(booking("p-2", 11, subject="Offsite prep", rooms=("MR-2",)))
    await setup_connections(api)
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync(dryRun=True))
        dry = await eventually(lambda: ready(api))
        await patch(api, ROOMSYNCS, "hq", {"spec": {"dryRun": False}})
        synced = await eventually(lambda: ready(api, generation=2))
        await patch(api, ROOMSYNCS, "hq", {"spec": {"suspend": True}})
        suspended = await eventually(lambda: ready(api, reason="Suspended"))
    assert dry["status"]["mode"] == "DryRun"
    planned = dry["status"]["plannedActions"]
    assert [(p["side"], p["action"], p["room"], p["subject"]) for p in planned] == [
        ("Calendar", "create", "MR-1", "Budget review"),
        ("Calendar", "create", "MR-2", "Offsite prep"),
    ]
    assert planned[0]["start"] == "2026-03-02T09:00:00Z"
    assert_valid(dry)
    assert synced["status"]["mode"] == "Sync" and "plannedActions" not in synced["status"]
    assert suspended["status"]["mode"] == "Suspended"


# -- ClusterConnection ------------------------------------------------------------------------------------------------
def cluster(body: dict[str, Any], allowed: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    body["kind"] = "ClusterConnection"
    body["metadata"].pop("namespace")
    body["spec"]["allowedNamespaces"] = allowed
    return body


def in_namespace(body: dict[str, Any], namespace: str) -> dict[str, Any]:
    body["metadata"]["namespace"] = namespace
    return body


async def setup_cluster_connections(api: Any, allowed: dict[str, Any]) -> None:
    for name, key in (("planon-credentials", "accessKey"), ("graph-credentials", "clientSecret")):
        await create(api, SECRETS, in_namespace(secret(name, **{key: memory_backend.PASSWORD}), CLUSTER_NS))
    await create(api, CLUSTER_CONNECTIONS, cluster(planon_connection("planon-shared"), allowed))
    await create(api, CLUSTER_CONNECTIONS, cluster(graph_connection("exchange-shared"), allowed))


def shared(name: str, namespace: str, rooms: list[dict[str, str]] | None = None) -> dict[str, Any]:
    body = roomsync(
        name,
        planon={"connectionRef": "planon-shared", "connectionKind": "ClusterConnection"},
        calendar={"connectionRef": "exchange-shared", "connectionKind": "ClusterConnection"},
    )
    if rooms is not None:
        body["spec"]["rooms"] = rooms
    return in_namespace(body, namespace)


async def test_cluster_connection_serves_only_the_namespaces_it_allows(api):
    memory_backend.system(PLANON_URL, Side.PLANON).put(booking("p-1", 9, rooms=("MR-1",)))
    memory_backend.system(TENANT, Side.CALENDAR).put(booking("c-9", 15, rooms=("MR-9",)))  # a room to discover
    api.namespace_labels["hr"] = {"roomsync.io/tenant": "yes"}
    allowed = {"names": [NS], "selector": {"matchLabels": {"roomsync.io/tenant": "yes"}}}
    await setup_cluster_connections(api, allowed)
    one, two = [{"planon": "MR-1", "calendar": "mr-1@contoso.com"}], [{"planon": "MR-2", "calendar": "mr-2@c.com"}]
    three = [{"planon": "MR-3", "calendar": "mr-3@contoso.com"}]
    async with operator(api):
        await create(api, ROOMSYNCS, shared("by-name", NS, one))
        await create(api, ROOMSYNCS, shared("by-label", "hr", two))
        await create(api, ROOMSYNCS, shared("intruder", "sales", three))
        await eventually(lambda: ready(api, "by-name"))
        await eventually(lambda: condition(api.read(ROOMSYNCS, "hr", "by-label"))["reason"] == "Synced")
        refused = await eventually(
            lambda: (
                (c := condition(api.read(ROOMSYNCS, "sales", "intruder")))
                and c["reason"] == "ConnectionNotAllowed"
                and c
            )
        )
        health = await eventually(lambda: checked(api, "exchange-shared", None, Ready="True"))
    assert "does not allow namespace 'sales'" in refused["message"]
    assert len(memory_backend.system(TENANT, Side.CALENDAR).live()) == 2  # MR-9's and the synced p-1
    # the Secrets were read from the operator's own namespace, never from a tenant's
    secret_reads = [r.url.path for r in api._requests if r.method == "GET" and "/secrets/" in r.url.path]
    assert secret_reads and all(f"/namespaces/{CLUSTER_NS}/" in p for p in secret_reads)
    assert health["status"]["backend"] == "graph"


# -- one owner per room -----------------------------------------------------------------------------------------------
async def test_a_room_claimed_twice_is_kept_by_the_older_roomsync(api, looptime):
    planon = memory_backend.system(PLANON_URL, Side.PLANON)
    planon.put(booking("p-1", 9, subject="Claimed", rooms=("MR-1",)))
    planon.put(booking("p-2", 10, subject="Free", rooms=("MR-2",)))
    await setup_cluster_connections(api, {"selector": {}})
    mr1 = {"planon": "MR-1", "calendar": "mr-1@contoso.com"}
    mr2 = {"planon": "MR-2", "calendar": "mr-2@contoso.com"}
    async with operator(api):
        await create(api, ROOMSYNCS, shared("first", NS, [mr1]))
        await eventually(lambda: ready(api, "first"))
        # another team claims MR-1 again (with the opposite leader) and MR-2, which nobody syncs yet
        second = shared("second", "hr", [mr1, mr2])
        second["spec"]["leader"] = "Calendar"
        await create(api, ROOMSYNCS, second)
        body = await eventually(
            lambda: (
                (b := api.read(ROOMSYNCS, "hr", "second"))
                and condition(b)
                and condition(b)["reason"] == "RoomAlreadyClaimed"
                and b
            )
        )
        calendar = memory_backend.system(TENANT, Side.CALENDAR)
        assert sorted(b.subject for b in calendar.live()) == ["Claimed", "Free"]  # MR-2 synced by "second"
        assert sum(1 for b in calendar.live() if b.subject == "Claimed") == 1
        # the first owner goes away: the second takes the room over at once
        await delete(api, ROOMSYNCS, "first")
        taken = await eventually(
            lambda: (b := api.read(ROOMSYNCS, "hr", "second")) and condition(b)["reason"] == "Synced" and b
        )
    message = condition(body)["message"]
    assert "room MR-1" in message and f"RoomSync {NS}/first" in message
    errors = {r["planon"]: r.get("lastError") for r in body["status"]["rooms"]}
    assert "first" in errors["MR-1"] and errors["MR-2"] is None
    assert_valid(body)
    assert taken["status"]["roomCount"] == 2


async def test_every_room_claimed_means_no_cycle_at_all(api):
    await setup_connections(api)
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync("alpha"))
        await eventually(lambda: ready(api, "alpha"))
        writes = memory_backend.system(TENANT, Side.CALENDAR).log.count()
        await create(api, ROOMSYNCS, roomsync("beta", dryRun=True))
        body = await eventually(lambda: ready(api, "beta", reason="RoomAlreadyClaimed"))
    assert "every room is synced by another RoomSync" in condition(body)["message"]
    assert "alpha" in condition(body)["message"]
    assert body["status"]["mode"] == "DryRun"
    assert memory_backend.system(TENANT, Side.CALENDAR).log.count() == writes
