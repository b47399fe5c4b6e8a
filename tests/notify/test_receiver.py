"""The receiver: handshakes, secrets checked, refusals counted, and only verified notices wake anything."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from roomsync.connectors.push import NoticeKind
from roomsync.sync.notify.addresses import CONNECTION, Address, ConnectionKey, sign
from roomsync.sync.notify.receiver import Receiver, Wake
from roomsync.sync.notify.settings import ACTIVE, NotifySettings

KEY = b"0123456789abcdef0123456789abcdef"
EXCHANGE = ConnectionKey(CONNECTION, "facilities", "exchange")
GOOGLE = ConnectionKey(CONNECTION, "facilities", "workspace")
PLANON = ConnectionKey(CONNECTION, "facilities", "planon")
ROOM = Address.of_room("graph", EXCHANGE, ("facilities", "hq"), "mr-1@contoso.com")
GOOGLE_ROOM = Address.of_room("google", GOOGLE, ("facilities", "hq"), "mr-1@contoso.example")
TRIGGER = Address.trigger(PLANON)


class Router:
    def __init__(self) -> None:
        self.wakes: list[Wake] = []
        self.broken = False

    async def deliver(self, wake: Wake) -> int:
        if self.broken:
            raise RuntimeError("the API server is down")
        self.wakes.append(wake)
        return 1


async def settings(connection: ConnectionKey, backend: str) -> NotifySettings | None:
    known = {(EXCHANGE, "graph"): KEY, (GOOGLE, "google"): KEY, (PLANON, "planon"): b"planon-token"}
    key = known.get((connection, backend))
    return None if key is None else NotifySettings(True, ACTIVE, "", "https://rs.example", key, timedelta(minutes=15))


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[TestClient, Router, Counter[tuple[str, str]]]]:
    router, counts = Router(), Counter[tuple[str, str]]()

    def count(backend: str, outcome: str, n: int = 1) -> None:
        counts[(backend, outcome)] += n

    async with TestClient(TestServer(Receiver(settings, router, count).app())) as client:
        yield client, router, counts


def _graph(*items: dict[str, str]) -> bytes:
    return json.dumps({"value": list(items)}).encode()


async def test_graph_validation_is_echoed_as_text_plain(receiver):
    client, router, counts = receiver
    token = "Validation: Testing client application reachability for subscription Request-Id: 1 & 2"
    answer = await client.post(
        f"/n/{ROOM.path}", params={"validationToken": token}, headers={"Content-Type": "text/plain"}
    )
    assert answer.status == 200 and answer.content_type == "text/plain"
    assert await answer.text() == token
    assert counts[("graph", "handshake")] == 1 and not router.wakes


async def test_a_genuine_graph_batch_wakes_the_room_and_a_forged_one_is_refused_and_counted(receiver):
    client, router, counts = receiver
    good = {"subscriptionId": "s1", "clientState": sign(KEY, ROOM), "changeType": "updated"}
    forged = {"subscriptionId": "s1", "clientState": "rs1.forged", "changeType": "created"}
    answer = await client.post(f"/{ROOM.path}", data=_graph(good, forged))
    assert answer.status == 202
    assert [(w.roomsync, w.calendar, w.kind) for w in router.wakes] == [
        (("facilities", "hq"), "mr-1@contoso.com", NoticeKind.CHANGED)
    ]
    assert counts[("graph", "refused")] == 1 and counts[("graph", "accepted")] == 1
    answer = await client.post(f"/{ROOM.path}", data=_graph(forged))
    assert answer.status == 403 and counts[("graph", "refused")] == 2 and len(router.wakes) == 1


async def test_the_secret_of_another_room_is_refused(receiver):
    client, router, counts = receiver
    other = Address.of_room("graph", EXCHANGE, ("facilities", "hq"), "mr-2@contoso.com")
    item = {"subscriptionId": "s1", "clientState": sign(KEY, other), "changeType": "updated"}
    answer = await client.post(f"/{ROOM.path}", data=_graph(item))
    assert answer.status == 403 and not router.wakes and counts[("graph", "refused")] == 1


async def test_graph_lifecycle_events(receiver):
    client, router, _ = receiver
    secret = sign(KEY, ROOM)
    for event in ("reauthorizationRequired", "subscriptionRemoved", "missed"):
        answer = await client.post(
            f"/{ROOM.path}", data=_graph({"subscriptionId": "s1", "clientState": secret, "lifecycleEvent": event})
        )
        assert answer.status == 202
    assert [w.kind for w in router.wakes] == [NoticeKind.RESUBSCRIBE, NoticeKind.RESUBSCRIBE, NoticeKind.MISSED]


async def test_google_messages_are_read_from_headers(receiver):
    client, router, counts = receiver
    headers = {
        "X-Goog-Channel-ID": "roomsync-1",
        "X-Goog-Channel-Token": sign(KEY, GOOGLE_ROOM),
        "X-Goog-Resource-ID": "res-1",
        "X-Goog-Message-Number": "1",
    }
    sync = await client.post(f"/{GOOGLE_ROOM.path}", headers=headers | {"X-Goog-Resource-State": "sync"})
    assert sync.status == 202 and not router.wakes, "sync says the channel works; nothing to read"
    exists = await client.post(f"/{GOOGLE_ROOM.path}", headers=headers | {"X-Goog-Resource-State": "exists"})
    assert exists.status == 202
    assert [(w.calendar, w.channel, w.resource) for w in router.wakes] == [
        ("mr-1@contoso.example", "roomsync-1", "res-1")
    ]
    forged = headers | {"X-Goog-Resource-State": "exists", "X-Goog-Channel-Token": "rs1.forged"}
    assert (await client.post(f"/{GOOGLE_ROOM.path}", headers=forged)).status == 403
    no_token = {k: v for k, v in forged.items() if k != "X-Goog-Channel-Token"}
    assert (await client.post(f"/{GOOGLE_ROOM.path}", headers=no_token)).status == 403
    assert counts[("google", "refused")] == 2 and counts[("google", "confirmed")] == 1


async def test_planon_trigger_with_its_bearer_token(receiver):
    client, router, counts = receiver
    ok = {"Authorization": "Bearer planon-token"}
    answer = await client.post(f"/{TRIGGER.path}", headers=ok, json={"reservationUnits": ["AMS-1.01", "AMS-1.02"]})
    assert answer.status == 202
    assert router.wakes[-1].units == ("AMS-1.01", "AMS-1.02") and router.wakes[-1].roomsync is None
    assert (await client.post(f"/{TRIGGER.path}", headers=ok)).status == 202, "no unit: every room of the Connection"
    assert router.wakes[-1].units == ()
    wrong = await client.post(
        f"/{TRIGGER.path}", headers={"Authorization": "Bearer guess"}, json={"reservationUnit": "X"}
    )
    assert wrong.status == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
    assert (await client.post(f"/{TRIGGER.path}", json={"reservationUnit": "X"})).status == 401
    assert counts[("planon", "refused")] == 2 and len(router.wakes) == 2


async def test_what_is_not_a_notification_is_answered_without_acting(receiver):
    client, router, counts = receiver
    assert (await client.post("/n/graph/facilities/nobody/facilities/hq/mr-1@contoso.com", data=b"{}")).status == 404
    assert (await client.post("/n/caldav/facilities/exchange/facilities/hq/mr-1@contoso.com")).status == 404
    assert (await client.post("/n/graph/facilities/exchange")).status == 404
    assert (await client.post(f"/{ROOM.path}", data=b"not json")).status == 400
    assert (await client.post(f"/{ROOM.path}", data=b'{"value": []}')).status == 400
    assert (await client.post(f"/{GOOGLE_ROOM.path}", headers={"X-Goog-Channel-ID": "x"})).status == 400
    bad_units = await client.post(
        f"/{TRIGGER.path}", headers={"Authorization": "Bearer planon-token"}, json={"reservationUnits": "AMS"}
    )
    assert bad_units.status == 400 and "reservationUnits" in await bad_units.text()
    assert not router.wakes
    assert counts[("graph", "malformed")] == 2 and counts[("graph", "unknown")] == 1
    assert counts[("caldav", "unknown")] == 1 and counts[("", "unknown")] == 1


async def test_a_wake_up_that_cannot_be_recorded_is_answered_503_so_the_vendor_delivers_again(receiver):
    client, router, counts = receiver
    router.broken = True
    item = {"subscriptionId": "s1", "clientState": sign(KEY, ROOM), "changeType": "updated"}
    answer = await client.post(f"/{ROOM.path}", data=_graph(item))
    assert answer.status == 503 and counts[("graph", "unrouted")] == 1
