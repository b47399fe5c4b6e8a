"""Graph subscriptions through msgraph-sdk against the Graph sandbox, and the notifications it sends as Graph does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from roomsync.connectors.base import BackendError, BookingRefused
from roomsync.connectors.graph.subscriptions import LIFETIME
from roomsync.connectors.push import NoticeKind
from roomsync.sandbox.graph.notifications import user_id
from tests.notify.conftest import GRAPH_ROOMS

ROOM = GRAPH_ROOMS[0]


async def _subscribe(endpoint, graph, room=ROOM, lifetime=LIFETIME):
    sandbox, client = graph
    url, secret = endpoint.address("graph", room)
    return await client.push.subscribe(room, url, secret, sandbox.state.calendars.now() + lifetime)


async def test_graph_validates_the_endpoint_before_the_subscription_exists(endpoint, graph):
    sandbox, client = graph
    channel = await _subscribe(endpoint, graph)
    log = sandbox.state.notifications.validation.log
    assert [entry["status"] for entry in log] == [200], "one validation request (same notification and lifecycle URL)"
    assert endpoint.counts[("graph", "handshake")] == 1
    assert channel.room == ROOM and channel.address.endswith(f"/facilities/hq/{ROOM}")
    assert timedelta(minutes=4199) < channel.expires - sandbox.state.calendars.now() <= LIFETIME
    assert client.requests.by_room[(ROOM, "subscriptions.create", "201")] == 1, "counted against the room"


async def test_an_endpoint_that_fails_the_handshake_gets_no_subscription(endpoint, graph):
    sandbox, _ = graph
    endpoint.answer_handshake = False
    with pytest.raises(BookingRefused, match="validation request failed"):
        await _subscribe(endpoint, graph)
    assert sandbox.state.notifications.subscriptions == {}


async def test_the_lifetime_is_bounded_as_documented(endpoint, graph):
    with pytest.raises(BookingRefused, match="4230 minutes"):
        await _subscribe(endpoint, graph, lifetime=timedelta(days=7))
    short = await _subscribe(endpoint, graph, lifetime=timedelta(minutes=5))
    assert short.expires - graph[0].state.calendars.now() > timedelta(minutes=44), "raised to 45 minutes"


async def test_created_updated_and_deleted_events_are_notified_in_graphs_shape(endpoint, graph):
    sandbox, _ = graph
    channel = await _subscribe(endpoint, graph)
    start = sandbox.state.calendars.now().replace(microsecond=0) + timedelta(days=1)
    uid = await sandbox.admin.book_in_outlook("ben@contoso.com", [ROOM], "Review", start, start + timedelta(hours=1))
    await endpoint.wait(1)
    await sandbox.admin.edit(uid, start=start + timedelta(hours=2), end=start + timedelta(hours=3))
    await endpoint.wait(2)
    await sandbox.admin.cancel(uid)  # the room's copy is marked cancelled
    await endpoint.wait(3)
    item_id = endpoint.bodies[0]["value"][0]["resourceData"]["id"]
    await graph[1].graph.users.by_user_id(ROOM).events.by_event_id(item_id).delete()  # and then removed
    await endpoint.wait(4)
    items = [item for body in endpoint.bodies for item in body["value"]]
    assert [i["changeType"] for i in items] == ["created", "updated", "updated", "deleted"]
    first = items[0]
    assert first["subscriptionId"] == channel.id and first["clientState"] == endpoint.address("graph", ROOM)[1]
    assert first["resource"].startswith(f"Users/{user_id(ROOM)}/Events/"), "the user's object id, not the address"
    assert ROOM not in first["resource"] and first["tenantId"] == sandbox.tenant_id
    assert first["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event"
    assert all(w.kind is NoticeKind.CHANGED and w.calendar == ROOM for w in endpoint.wakes)


async def test_renew_list_and_delete(endpoint, graph):
    sandbox, client = graph
    channel = await _subscribe(endpoint, graph, lifetime=timedelta(hours=2))
    renewed = await client.push.renew(channel, sandbox.state.calendars.now() + timedelta(hours=30))
    assert renewed.id == channel.id and renewed.expires > channel.expires + timedelta(hours=27)
    listed = await client.push.listed(endpoint.base)
    assert [(c.id, c.room) for c in listed] == [(channel.id, ROOM)]
    assert await client.push.listed("https://elsewhere.example/") == []
    await client.push.stop(channel)
    await client.push.stop(channel)  # gone already: not an error
    assert await client.push.listed(endpoint.base) == []
    with pytest.raises(BackendError):
        await client.push.renew(channel, sandbox.state.calendars.now() + timedelta(hours=3))


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ("reauthorizationRequired", NoticeKind.RESUBSCRIBE),
        ("subscriptionRemoved", NoticeKind.RESUBSCRIBE),
        ("missed", NoticeKind.MISSED),
    ],
)
async def test_lifecycle_notifications(endpoint, graph, event, kind):
    sandbox, _ = graph
    channel = await _subscribe(endpoint, graph)
    sandbox.state.notifications.lifecycle(channel.id, event)
    (wake,) = await endpoint.wait(1)
    assert wake.kind is kind and wake.calendar == ROOM
    assert endpoint.bodies[0]["value"][0]["lifecycleEvent"] == event
    assert (channel.id in sandbox.state.notifications.subscriptions) is (event != "subscriptionRemoved")


async def test_an_expired_subscription_notifies_nothing(endpoint, graph):
    sandbox, _ = graph
    channel = await _subscribe(endpoint, graph)
    sandbox.state.notifications.expire(channel.id)
    start = sandbox.state.calendars.now() + timedelta(days=1)
    await sandbox.admin.book_in_outlook("ben@contoso.com", [ROOM], "Unheard", start, start + timedelta(hours=1))
    await sandbox.state.notifications.outbound.idle()
    assert endpoint.wakes == [] and sandbox.state.notifications.subscriptions == {}


async def test_an_unacknowledged_notification_is_delivered_again(endpoint, graph):
    sandbox, _ = graph
    await _subscribe(endpoint, graph)
    endpoint.refuse = 2
    start = sandbox.state.calendars.now() + timedelta(days=1)
    await sandbox.admin.book_in_outlook("ben@contoso.com", [ROOM], "Retried", start, start + timedelta(hours=1))
    (wake,) = await endpoint.wait(1)
    await sandbox.state.notifications.outbound.idle()
    statuses = [e["status"] for e in sandbox.state.notifications.outbound.log]
    assert statuses == [503, 503, 202] and wake.calendar == ROOM
