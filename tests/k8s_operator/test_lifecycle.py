"""RoomSync lifecycle through the real kopf operator: apply, cycle, status, resync triggers, suspend, delete."""

from __future__ import annotations

import asyncio
import base64
import itertools
from typing import Any

import pytest

from roomsync.config.crds import validate_object
from roomsync.model import Side
from tests.helpers import booking
from tests.k8s_operator import memory_backend
from tests.k8s_operator.conftest import (
    CONNECTIONS,
    NS,
    PLANON_URL,
    ROOMSYNCS,
    SECRETS,
    TENANT,
    condition,
    create,
    delete,
    events,
    eventually,
    graph_connection,
    operator,
    patch,
    roomsync,
    setup_connections,
)

pytestmark = [pytest.mark.looptime]

INTERVAL = 60.0  # the RoomSyncs' spec.interval: "immediately" means well before the next scheduled cycle


def stores() -> tuple[Any, Any]:
    return memory_backend.system(PLANON_URL, Side.PLANON), memory_backend.system(TENANT, Side.CALENDAR)


def ready(api: Any, name: str = "hq", reason: str = "Synced", generation: int | None = None) -> Any:
    body = api.read(ROOMSYNCS, NS, name)
    found = condition(body)
    if not found or found["reason"] != reason:
        return None
    if generation is not None and body["status"].get("observedGeneration") != generation:
        return None
    return body


async def test_apply_roomsync_syncs_and_reports_ready(api):
    planon, calendar = stores()
    planon.put(booking("p-1", 9, subject="Budget review", rooms=("MR-1",)))
    await setup_connections(api)
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync())
        body = await eventually(lambda: ready(api))
    status = body["status"]
    assert condition(body)["status"] == "True"
    assert condition(body, "Synced")["status"] == "True"
    assert status["observedGeneration"] == 1
    assert status["counters"]["created"] == 1
    assert status["roomCount"] == 2
    assert {r["planon"]: r["bookings"] for r in status["rooms"]} == {"MR-1": 1, "MR-2": 0}
    assert [b.subject for b in calendar.live()] == ["Budget review"]
    assert "finalizers" not in body["metadata"]  # deletionPolicy Orphan needs no clean-up: no finalizer
    # kopf's own bookkeeping is under our prefix, never kopf.zalando.org
    assert all(key.startswith("roomsync.io/") for key in body["metadata"].get("annotations", {}))
    # the status went through the status subresource only
    patches = [r for r in api._requests if r.method == "PATCH" and "status" in r.text]
    assert patches and all(r.url.path.endswith("/status") for r in patches)


def assert_valid(body: dict[str, Any]) -> None:
    """The stored object, status included, satisfies the CRD (a real apiserver would reject or prune otherwise)."""
    stored = {k: v for k, v in body.items() if k != "metadata"}
    stored["metadata"] = {"name": body["metadata"]["name"], "namespace": body["metadata"]["namespace"]}
    assert validate_object(stored) == []


async def test_status_stays_within_the_crd_schema(api):
    planon, _ = stores()
    planon.put(booking("p-1", 9, rooms=("MR-1",)))
    await setup_connections(api)
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync())
        assert_valid(await eventually(lambda: ready(api)))
        other_rooms = [{"planon": "MR-8", "calendar": "mr-8@contoso.com"}]  # one owner per room: not hq's
        await create(api, ROOMSYNCS, roomsync("broken", planon={"connectionRef": "missing"}, rooms=other_rooms))
        assert_valid(await eventually(lambda: ready(api, "broken", reason="ConnectionNotFound")))


async def test_spec_change_triggers_an_immediate_cycle(api, looptime):
    planon, calendar = stores()
    planon.put(booking("p-3", 11, subject="Offsite prep", rooms=("MR-3",)))
    await setup_connections(api)
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync())
        await eventually(lambda: ready(api))
        assert calendar.live() == []  # MR-3 is not part of the RoomSync yet
        changed_at = float(looptime)
        rooms = [{"planon": f"MR-{i}", "calendar": f"mr-{i}@contoso.com"} for i in (1, 2, 3)]
        await patch(api, ROOMSYNCS, "hq", {"spec": {"rooms": rooms}})
        body = await eventually(lambda: ready(api, generation=2))
        assert float(looptime) - changed_at < INTERVAL / 2
    assert [b.subject for b in calendar.live()] == ["Offsite prep"]
    assert body["status"]["roomCount"] == 3
    assert condition(body)["observedGeneration"] == 2


async def test_sync_requested_at_annotation_runs_a_cycle_now_and_is_echoed(api, looptime):
    planon, calendar = stores()
    await setup_connections(api)
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync())
        await eventually(lambda: ready(api))
        planon.put(booking("p-9", 14, subject="Walk-in", rooms=("MR-2",)))
        requested_at = float(looptime)
        await patch(api, ROOMSYNCS, "hq", {"metadata": {"annotations": {"roomsync.io/sync-requested-at": "now-1"}}})
        body = await eventually(
            lambda: (
                (api.read(ROOMSYNCS, NS, "hq")["status"].get("lastHandledRequestedAt") == "now-1")
                and api.read(ROOMSYNCS, NS, "hq")
            )
        )
        assert float(looptime) - requested_at < INTERVAL / 2
    assert [b.subject for b in calendar.live()] == ["Walk-in"]
    assert body["status"]["observedGeneration"] == 1  # an annotation is not a spec change


async def test_cycles_repeat_every_interval(api, looptime):
    planon, calendar = stores()
    await setup_connections(api)
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync())
        await eventually(lambda: ready(api))
        planon.put(booking("p-5", 15, subject="Later", rooms=("MR-1",)))
        started = float(looptime)
        await eventually(lambda: calendar.live(), seconds=INTERVAL * 2)
        assert INTERVAL * 0.9 <= float(looptime) - started <= INTERVAL * 1.5


async def test_a_slow_cycle_does_not_stretch_the_interval(api, looptime, monkeypatch):
    """The next cycle starts spec.interval after the previous one *started*: a 20 s read does not make it 80 s."""
    monkeypatch.setattr(memory_backend, "CALENDAR_READ_SECONDS", INTERVAL / 3)
    await setup_connections(api)
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync())
        await eventually(lambda: len(memory_backend.CALENDAR_READS) >= 4, seconds=INTERVAL * 5)
    starts = memory_backend.CALENDAR_READS
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts[:4])]
    assert all(INTERVAL * 0.95 <= gap <= INTERVAL * 1.05 for gap in gaps), gaps


async def test_missing_connection_is_reported_and_nothing_is_written(api, looptime):
    planon, calendar = stores()
    planon.put(booking("p-1", 9, rooms=("MR-1",)))
    await setup_connections(api)
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync(calendar={"connectionRef": "no-such-exchange"}))
        body = await eventually(lambda: ready(api, reason="ConnectionNotFound"))
        assert condition(body)["status"] == "False"
        assert "no-such-exchange" in condition(body)["message"]
        assert planon.log.count() == calendar.log.count() == 0
        assert await eventually(lambda: events(api, "ConnectionNotFound"))

        # creating the missing Connection wakes the RoomSync at once
        created_at = float(looptime)
        await create(api, CONNECTIONS, graph_connection("no-such-exchange"))
        await eventually(lambda: ready(api))
        assert float(looptime) - created_at < INTERVAL / 2
    assert len(calendar.live()) == 1


async def test_wrong_secret_reports_authentication_failed_and_rotation_recovers(api, looptime):
    planon, calendar = stores()
    planon.put(booking("p-1", 9, rooms=("MR-1",)))
    await setup_connections(api, password="wrong")
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync())
        body = await eventually(lambda: ready(api, reason="AuthenticationFailed"))
        assert condition(body)["status"] == "False"
        assert planon.log.count() == calendar.log.count() == 0
        warned = await eventually(lambda: events(api, "AuthenticationFailed"))
        assert warned[0]["type"] == "Warning"
        assert warned[0]["involvedObject"]["name"] == "hq"

        # rotate both credentials: the Secret watch wakes the RoomSync, a fresh client is opened
        good = base64.b64encode(memory_backend.PASSWORD.encode()).decode()
        rotated_at = float(looptime)
        await patch(api, SECRETS, "planon-credentials", {"data": {"accessKey": good}})
        await patch(api, SECRETS, "graph-credentials", {"data": {"clientSecret": good}})
        await eventually(lambda: ready(api))
        assert float(looptime) - rotated_at < INTERVAL / 2
    assert len(calendar.live()) == 1
    assert [c.closed for c in memory_backend.CLIENTS[:2]] == [True, True]  # the clients with the old password


async def test_missing_secret_is_reported(api):
    planon, calendar = stores()
    planon.put(booking("p-1", 9, rooms=("MR-1",)))
    await setup_connections(api)
    await delete(api, "v1/secrets", "graph-credentials")
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync())
        body = await eventually(lambda: ready(api, reason="SecretNotFound"))
    assert "graph-credentials" in condition(body)["message"]
    assert planon.log.count() == calendar.log.count() == 0


async def test_invalid_spec_is_reported_and_nothing_is_written(api):
    planon, calendar = stores()
    planon.put(booking("p-1", 9, rooms=("MR-1",)))
    await setup_connections(api)
    duplicate = [{"planon": "MR-1", "calendar": "mr-1@contoso.com"}, {"planon": "MR-2", "calendar": "MR-1@contoso.com"}]
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync(rooms=duplicate))
        body = await eventually(lambda: ready(api, reason="InvalidSpec"))
    assert "spec.rooms[1].calendar" in condition(body)["message"]
    assert planon.log.count() == calendar.log.count() == 0


async def test_suspend_stops_cycles_until_resumed(api, looptime):
    planon, calendar = stores()
    await setup_connections(api)
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync())
        await eventually(lambda: ready(api))
        await patch(api, ROOMSYNCS, "hq", {"spec": {"suspend": True}})
        body = await eventually(lambda: ready(api, reason="Suspended"))
        assert condition(body)["status"] == "False"
        planon.put(booking("p-1", 9, rooms=("MR-1",)))
        await asyncio.sleep(INTERVAL * 3)  # three intervals: nothing may happen
        assert calendar.log.count() == 0
        await patch(api, ROOMSYNCS, "hq", {"spec": {"suspend": False}})
        await eventually(lambda: ready(api, generation=3))
    assert len(calendar.live()) == 1


async def test_dry_run_plans_without_writing(api):
    planon, calendar = stores()
    planon.put(booking("p-1", 9, rooms=("MR-1",)))
    await setup_connections(api)
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync(dryRun=True))
        body = await eventually(lambda: ready(api))
    assert_valid(body)
    synced = condition(body, "Synced")
    assert (synced["status"], synced["reason"]) == ("False", "DryRun")
    assert "1 change(s) planned" in synced["message"]
    assert {r["planon"]: r["pending"] for r in body["status"]["rooms"]}["MR-1"] == 1
    assert planon.log.count() == calendar.log.count() == 0


async def test_mass_delete_is_refused_with_an_event(api):
    planon, calendar = stores()
    for i in range(4):
        planon.put(booking(f"p-{i}", 9 + i, rooms=("MR-1",)))
    await setup_connections(api)
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync(interval="10s"))
        await eventually(lambda: len(calendar.live()) == 4)
        planon.bookings.clear()  # a bad read: everything seems gone at once
        body = await eventually(lambda: ready(api, reason="MassDeleteRefused"))
        refused = await eventually(lambda: events(api, "MassDeleteRefused"))
        await asyncio.sleep(60)  # several more refused cycles: still one Event (rate-limited)
        assert len(events(api, "MassDeleteRefused")) == 1
    assert_valid(body)
    assert condition(body)["status"] == "False"
    assert refused[0]["type"] == "Warning"
    assert len(calendar.live()) == 4  # nothing was cancelled


async def test_delete_needs_no_finalizer_and_orphans_bookings(api):
    planon, calendar = stores()
    planon.put(booking("p-1", 9, rooms=("MR-1",)))
    await setup_connections(api)
    async with operator(api) as running:
        await create(api, ROOMSYNCS, roomsync())
        await eventually(lambda: ready(api))
        await delete(api, ROOMSYNCS, "hq")
        await eventually(lambda: api.read(ROOMSYNCS, NS, "hq") is None)
        await eventually(lambda: ("facilities", "hq") not in running.controller.workers)
        assert await eventually(lambda: events(api, "Orphaned"))
    assert len(calendar.live()) == len(planon.live()) == 1  # deletionPolicy Orphan: bookings stay


async def test_roomsyncs_sharing_connections_share_one_client(api):
    await setup_connections(api)
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync("north", rooms=[{"planon": "MR-1", "calendar": "mr-1@contoso.com"}]))
        await create(api, ROOMSYNCS, roomsync("south", rooms=[{"planon": "MR-2", "calendar": "mr-2@contoso.com"}]))
        await eventually(lambda: ready(api, "north") and ready(api, "south"))
    assert len(memory_backend.CLIENTS) == 2  # one Planon client and one calendar client for both RoomSyncs
