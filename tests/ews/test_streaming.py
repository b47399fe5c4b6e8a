"""EWS streaming notifications through exchangelib against the Exchange sandbox: Subscribe, one GetStreamingEvents
connection carrying a group of rooms, pokes that only wake rooms, a dropped connection, expired subscriptions, and
the throttling limits that make rooms fall back to polling."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from roomsync.connectors.base import BackendError
from roomsync.connectors.ews.streaming import StreamingFailed
from roomsync.connectors.push import Channel, NoticeKind
from roomsync.sync.notify.addresses import CONNECTION, ConnectionKey
from roomsync.sync.notify.keeper import ChannelKeeper
from roomsync.sync.notify.settings import IN_PROCESS, NotifySettings
from tests.ews.conftest import BEN, R1, R2, R3, at

BASE = "in-process:/ews/ns/calendar/ns/rs"


class Pokes:
    """The sink: what the streams asked to wake, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, NoticeKind]] = []
        self.arrived = asyncio.Event()

    async def __call__(self, address: str, kind: NoticeKind, channel: str) -> None:
        self.seen.append((address.rsplit("/", 1)[-1], kind))
        self.arrived.set()

    async def wait_for(self, room: str, kind: NoticeKind = NoticeKind.CHANGED) -> None:
        async with asyncio.timeout(10):
            while (room, kind) not in self.seen:
                self.arrived.clear()
                await self.arrived.wait()


async def _subscribe(client, *rooms: str) -> list[Channel]:
    expires = at(1, 0) + timedelta(minutes=30)
    return [await client.push.subscribe(room, f"{BASE}/{room}", "unused", expires) for room in rooms]


async def _connected(exchange, count: int) -> dict:
    async with asyncio.timeout(10):
        while True:
            state = await exchange.admin.ews_streaming()
            if sum(1 for s in state["subscriptions"] if s["connected"]) == count and len(state["connections"]) == 1:
                return state
            await asyncio.sleep(0.02)


@pytest.fixture
def pokes() -> Pokes:
    return Pokes()


async def test_one_connection_carries_every_rooms_subscription_and_an_edit_wakes_only_its_room(
    exchange, make_client, pokes
):
    client = make_client()
    client.push.sink = pokes
    channels = await _subscribe(client, R1, R2, R3)
    state = await _connected(exchange, 3)
    assert state["connections"] == [{"account": "CORP\\svc-roomsync", "subscriptions": 3}], "one held connection"
    assert {s["mailbox"] for s in state["subscriptions"]} == {R1, R2, R3}
    await exchange.admin.book_in_outlook(BEN, [R2], "Review", at(3, 9), at(3, 10))
    await pokes.wait_for(R2)
    assert {room for room, _ in pokes.seen} == {R2}, "the other rooms are not woken"
    for channel in channels:
        assert (await client.push.renew(channel, channel.expires)).id == channel.id, "a healthy channel renews"
    subscribes = sum(
        n for (_, op, status), n in client.requests.by_room.items() if (op, str(status)) == ("Subscribe", "200")
    )
    assert subscribes == 3
    streams = {k: n for k, n in client.requests.by_room.items() if k[1] == "GetStreamingEvents"}
    assert all(room == R1 for room, _, _ in streams), "the connection is anchored on the group's first room"


async def test_a_dropped_connection_is_opened_again_and_its_rooms_are_read_once(exchange, make_client, pokes):
    client = make_client()
    client.push.sink = pokes
    await _subscribe(client, R1, R2)
    await _connected(exchange, 2)
    assert await exchange.admin.drop_ews_streams() == 1
    await pokes.wait_for(R1, NoticeKind.MISSED)
    await pokes.wait_for(R2, NoticeKind.MISSED)
    await _connected(exchange, 2)
    await exchange.admin.book_in_outlook(BEN, [R1], "After the drop", at(4, 9), at(4, 10))
    await pokes.wait_for(R1)


async def test_expired_subscriptions_are_made_again_and_their_rooms_read_once(exchange, make_client, pokes):
    client = make_client()
    client.push.sink = pokes
    await _subscribe(client, R1, R2)
    before = {s["id"] for s in (await _connected(exchange, 2))["subscriptions"]}
    assert await exchange.admin.expire_ews_subscriptions() == 2
    await pokes.wait_for(R1, NoticeKind.MISSED)
    await pokes.wait_for(R2, NoticeKind.MISSED)
    after = {s["id"] for s in (await _connected(exchange, 2))["subscriptions"]}
    assert after and not after & before, "new subscriptions"
    await exchange.admin.book_in_outlook(BEN, [R2], "Still heard", at(5, 9), at(5, 10))
    await pokes.wait_for(R2)


async def test_too_many_connections_make_the_rooms_fall_back_to_polling_with_the_reason(exchange, make_client, pokes):
    await exchange.admin.set_ews_streaming(max_connections=0)
    client = make_client()
    client.push.sink = pokes
    (channel,) = await _subscribe(client, R1)
    await pokes.wait_for(R1, NoticeKind.RESUBSCRIBE)  # the keeper renews at once and records the failure
    with pytest.raises(StreamingFailed, match="ErrorExceededConnectionCount"):
        await client.push.renew(channel, channel.expires)
    await exchange.admin.set_ews_streaming(max_connections=10)
    await pokes.wait_for(R1, NoticeKind.MISSED)  # holds again (after its back-off): the room is read once
    assert (await client.push.renew(channel, channel.expires)).id == channel.id


async def test_too_many_subscriptions_refuse_the_room_with_the_reason(exchange, make_client, pokes):
    await exchange.admin.set_ews_streaming(max_subscriptions=1)
    client = make_client()
    client.push.sink = pokes
    await _subscribe(client, R1)
    with pytest.raises(BackendError, match="ErrorExceededSubscriptionCount"):
        await _subscribe(client, R2)


async def test_a_stopped_channel_unsubscribes_and_the_others_keep_their_connection(exchange, make_client, pokes):
    client = make_client()
    client.push.sink = pokes
    first, second = await _subscribe(client, R1, R2)
    await _connected(exchange, 2)
    await client.push.stop(first)
    state = await _connected(exchange, 1)
    assert [s["mailbox"] for s in state["subscriptions"]] == [R2]
    assert await client.push.listed(BASE) == [second]
    await client.push.stop(first)  # already gone: not an error


async def test_subscribing_an_address_again_replaces_its_subscription(exchange, make_client, pokes):
    client = make_client()
    client.push.sink = pokes
    (first,) = await _subscribe(client, R1)
    (second,) = await _subscribe(client, R1)
    state = await _connected(exchange, 1)
    assert [s["id"] for s in state["subscriptions"]] == [second.id] and second.id != first.id
    assert await client.push.listed(BASE) == [second]


async def test_the_keeper_reports_the_fallback_to_polling_and_recovers(exchange, make_client, pokes):
    """What the operator sees: NotificationsActive False with SubscriptionFailed and the EWS error, then True."""
    await exchange.admin.set_ews_streaming(max_connections=0)
    client = make_client()
    keeper = ChannelKeeper(ConnectionKey(CONNECTION, "ns", "calendar"), "ews", ("ns", "rs"))

    async def sink(address: str, kind: NoticeKind, channel: str) -> None:
        await pokes(address, kind, channel)
        if kind is NoticeKind.RESUBSCRIBE:  # what the router does: the keeper renews at once
            keeper.resubscribe.add(address.rsplit("/", 1)[-1])

    client.push.sink = sink
    settings = NotifySettings(True, "Active", "", IN_PROCESS, b"k" * 16)
    now = at(1, 0)
    assert await keeper.keep(client.push, settings, [R1, R2], now) == {R1, R2}, "subscribed: read once"
    await pokes.wait_for(R1, NoticeKind.RESUBSCRIBE)
    await keeper.keep(client.push, settings, [R1, R2], now)
    failed = keeper.state(settings, [R1, R2], now)
    assert (failed.active, failed.reason) == (False, "SubscriptionFailed")
    assert "ErrorExceededConnectionCount" in failed.message and "polled every spec.interval" in failed.message
    await exchange.admin.set_ews_streaming(max_connections=10)
    await pokes.wait_for(R1, NoticeKind.MISSED)
    await keeper.keep(client.push, settings, [R1, R2], now + timedelta(minutes=2))  # the keeper's retry is due
    healthy = keeper.state(settings, [R1, R2], now + timedelta(minutes=2))
    assert (healthy.active, healthy.reason) == (True, "Active")
