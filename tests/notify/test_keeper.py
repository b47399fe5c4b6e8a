"""One RoomSync's channels over their life: subscribe, renew before expiry, replace, stop, and survive a restart
without a leak - against the Graph and Google sandboxes through the real connectors."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from roomsync.sync.notify.addresses import Address, sign
from roomsync.sync.notify.keeper import ChannelKeeper
from tests.notify.conftest import EXCHANGE, GOOGLE_ROOMS, GRAPH_ROOMS, ROOMSYNC, WORKSPACE


def _ops(client, prefix: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for (_, op, _), n in client.requests.by_room.items():
        if op.startswith(prefix):
            counts[op] += n
    return counts


async def test_graph_every_room_is_subscribed_renewed_in_place_well_before_expiry_and_stopped_when_it_leaves(
    endpoint, graph
):
    sandbox, client = graph
    settings = endpoint.settings("graph")
    keeper = ChannelKeeper(EXCHANGE, "graph", ROOMSYNC)
    now = sandbox.state.calendars.now()
    assert await keeper.keep(client.push, settings, GRAPH_ROOMS, now) == set(GRAPH_ROOMS), "read them once"
    assert sorted(s.mailbox for s in sandbox.state.notifications.subscriptions.values()) == GRAPH_ROOMS
    assert keeper.state(settings, GRAPH_ROOMS, now).active
    before = _ops(client, "subscriptions")
    assert await keeper.keep(client.push, settings, GRAPH_ROOMS, now + timedelta(hours=1)) == set()
    assert _ops(client, "subscriptions") == before, "nothing to do while channels are young"

    ids = {room: kept.channel.id for room, kept in keeper.kept.items()}
    later = now + timedelta(hours=50)  # 20 of 70 hours left: less than a third
    await sandbox.admin.set_clock(later)
    await keeper.keep(client.push, settings, GRAPH_ROOMS, later)
    assert {room: kept.channel.id for room, kept in keeper.kept.items()} == ids, "renewed in place (PATCH)"
    assert all(k.channel.expires > later + timedelta(hours=69) for k in keeper.kept.values())
    assert _ops(client, "subscriptions.renew")["subscriptions.renew"] == 3

    await keeper.keep(client.push, settings, GRAPH_ROOMS[:2], later)
    assert sorted(s.mailbox for s in sandbox.state.notifications.subscriptions.values()) == GRAPH_ROOMS[:2]
    saved = keeper.state(settings, GRAPH_ROOMS[:2], later).channels
    assert set(saved) == set(GRAPH_ROOMS[:2]) and saved[GRAPH_ROOMS[0]].startswith(ids[GRAPH_ROOMS[0]] + " - ")


async def test_graph_a_restart_adopts_what_it_finds_and_leaks_nothing(endpoint, graph):
    sandbox, client = graph
    settings = endpoint.settings("graph")
    first = ChannelKeeper(EXCHANGE, "graph", ROOMSYNC)
    now = sandbox.state.calendars.now()
    await first.keep(client.push, settings, GRAPH_ROOMS, now)
    saved = first.state(settings, GRAPH_ROOMS, now).channels
    # a crash between a subscription's creation and the status write left a second one for the first room
    url, secret = endpoint.address("graph", GRAPH_ROOMS[0])
    await client.push.subscribe(GRAPH_ROOMS[0], url, secret, now + timedelta(hours=10))
    assert len(sandbox.state.notifications.subscriptions) == 4

    restarted = ChannelKeeper(EXCHANGE, "graph", ROOMSYNC)
    restarted.restore(saved, settings.url)
    created = _ops(client, "subscriptions.create")
    fresh = await restarted.keep(client.push, settings, GRAPH_ROOMS[:2], now)  # the third room left meanwhile
    assert fresh == set() and _ops(client, "subscriptions.create") == created, "adopted, not made again"
    live = sorted(s.mailbox for s in sandbox.state.notifications.subscriptions.values())
    assert live == GRAPH_ROOMS[:2], "the duplicate and the departed room's subscription are deleted"
    assert {k.channel.id for k in restarted.kept.values()} == set(sandbox.state.notifications.subscriptions)


async def test_graph_a_removed_subscription_is_made_again_and_its_room_read(endpoint, graph):
    sandbox, client = graph
    settings = endpoint.settings("graph")
    keeper = ChannelKeeper(EXCHANGE, "graph", ROOMSYNC)
    now = sandbox.state.calendars.now()
    await keeper.keep(client.push, settings, GRAPH_ROOMS, now)
    removed = keeper.kept[GRAPH_ROOMS[1]].channel.id
    sandbox.state.notifications.lifecycle(removed, "subscriptionRemoved")
    keeper.resubscribe.add(GRAPH_ROOMS[1])  # what the receiver's lifecycle notice asks for
    assert await keeper.keep(client.push, settings, GRAPH_ROOMS, now) == {GRAPH_ROOMS[1]}
    assert keeper.kept[GRAPH_ROOMS[1]].channel.id != removed and len(sandbox.state.notifications.subscriptions) == 3


async def test_graph_a_new_key_replaces_every_subscription(endpoint, graph):
    sandbox, client = graph
    keeper = ChannelKeeper(EXCHANGE, "graph", ROOMSYNC)
    now = sandbox.state.calendars.now()
    await keeper.keep(client.push, endpoint.settings("graph"), GRAPH_ROOMS, now)
    old = set(sandbox.state.notifications.subscriptions)
    rotated = replace(endpoint.settings("graph"), key=b"a rotated notification key!!")
    await keeper.keep(client.push, rotated, GRAPH_ROOMS, now)
    subscriptions = sandbox.state.notifications.subscriptions
    assert not old & set(subscriptions) and len(subscriptions) == 3
    url, _ = endpoint.address("graph", GRAPH_ROOMS[0])
    states = {s.client_state for s in subscriptions.values() if s.notification_url == url}
    assert states == {sign(rotated.key, _address(GRAPH_ROOMS[0]))}


def _address(room: str) -> Address:
    return Address.of_room("graph", EXCHANGE, ROOMSYNC, room)


async def test_a_failing_subscription_is_retried_with_back_off_and_the_roomsync_polls_meanwhile(endpoint, graph):
    sandbox, client = graph
    settings = endpoint.settings("graph")
    keeper = ChannelKeeper(EXCHANGE, "graph", ROOMSYNC)
    now = sandbox.state.calendars.now()
    endpoint.answer_handshake = False
    await keeper.keep(client.push, settings, GRAPH_ROOMS[:1], now)
    state = keeper.state(settings, GRAPH_ROOMS[:1], now)
    assert (state.active, state.reason) == (False, "SubscriptionFailed")
    assert "validation request failed" in state.message
    endpoint.answer_handshake = True
    created = _ops(client, "subscriptions.create")
    await keeper.keep(client.push, settings, GRAPH_ROOMS[:1], now + timedelta(seconds=30))
    assert _ops(client, "subscriptions.create") == created, "not before its retry time (1 minute)"
    await keeper.keep(client.push, settings, GRAPH_ROOMS[:1], now + timedelta(minutes=2))
    assert keeper.state(settings, GRAPH_ROOMS[:1], now + timedelta(minutes=2)).active


async def test_notifications_switched_off_stop_every_channel(endpoint, graph):
    sandbox, client = graph
    keeper = ChannelKeeper(EXCHANGE, "graph", ROOMSYNC)
    now = sandbox.state.calendars.now()
    await keeper.keep(client.push, endpoint.settings("graph"), GRAPH_ROOMS, now)
    off = replace(endpoint.settings("graph"), enabled=False, reason="Disabled")
    await keeper.keep(client.push, off, GRAPH_ROOMS, now)
    assert sandbox.state.notifications.subscriptions == {} and keeper.kept == {}
    assert keeper.state(off, GRAPH_ROOMS, now).reason == "Disabled"


async def test_google_channels_are_replaced_before_expiry_and_survive_a_restart_from_status(endpoint, google):
    sandbox, client = google
    settings = endpoint.settings("google")
    keeper = ChannelKeeper(WORKSPACE, "google", ROOMSYNC)
    now = datetime.now(UTC)
    assert await keeper.keep(client.push, settings, GOOGLE_ROOMS, now) == set(GOOGLE_ROOMS)
    first = {room: kept.channel.id for room, kept in keeper.kept.items()}
    assert set(sandbox.state.push.channels) == set(first.values())

    saved = keeper.state(settings, GOOGLE_ROOMS, now).channels  # what status keeps: channels cannot be listed
    restarted = ChannelKeeper(WORKSPACE, "google", ROOMSYNC)
    restarted.restore(saved, settings.url)
    watches = _ops(client, "events.watch")
    assert await restarted.keep(client.push, settings, GOOGLE_ROOMS, now) == set()
    assert _ops(client, "events.watch") == watches, "the saved channels are kept, none made again"

    later = now + timedelta(days=5)  # 2 of 7 days left
    assert await restarted.keep(client.push, settings, GOOGLE_ROOMS, later) == set()
    second = {room: kept.channel.id for room, kept in restarted.kept.items()}
    assert not set(second.values()) & set(first.values()), "a new channel per room"
    assert set(sandbox.state.push.channels) == set(second.values()), "and the old ones stopped"

    await restarted.keep(client.push, settings, GOOGLE_ROOMS[:1], later)
    assert [c.calendar for c in sandbox.state.push.channels.values()] == GOOGLE_ROOMS[:1]


async def test_google_channels_saved_at_an_earlier_url_are_stopped_by_id_and_replaced_after_a_restart(endpoint, google):
    sandbox, client = google
    settings = endpoint.settings("google")
    keeper = ChannelKeeper(WORKSPACE, "google", ROOMSYNC)
    now = datetime.now(UTC)
    await keeper.keep(client.push, settings, GOOGLE_ROOMS, now)
    first = set(sandbox.state.push.channels)
    saved = keeper.state(settings, GOOGLE_ROOMS, now).channels

    moved = replace(settings, url=endpoint.base.replace("/notifications", "/moved/notifications"))
    restarted = ChannelKeeper(WORKSPACE, "google", ROOMSYNC)
    restarted.restore(saved, moved.url)  # the public URL changed while the operator was away
    assert all(kept.channel.address == "" for kept in restarted.kept.values()), "not taken for the new address"
    assert await restarted.keep(client.push, moved, GOOGLE_ROOMS, now) == set(GOOGLE_ROOMS), "read them once"
    live = sandbox.state.push.channels.values()
    assert not first & set(sandbox.state.push.channels), "the old channels were stopped by their ids"
    assert sorted(c.calendar for c in live) == sorted(GOOGLE_ROOMS)
    assert all(c.address.startswith(str(moved.url)) for c in live)
