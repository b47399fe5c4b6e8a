"""Notifications, end to end on every calendar that has them: the sandbox notifies as its vendor does (Graph's
validation handshake and change notifications, Google's sync and exists messages, a Planon Event Connector app),
the receiver checks the secret and wakes only the room concerned, and a cycle that reads only that room carries the
change to the other side. Polling stays the safety net: nothing is lost when a notification is dropped, delayed,
duplicated or reordered. CalDAV has no push (docs/caldav.md) and is left out.
"""

from __future__ import annotations

import aiohttp
import pytest

from tests.notify.harness import Notified
from tests.scenarios.world import BEN, F1, F2, F3, World, at

pytestmark = pytest.mark.calendar_needs("change_notifications", reason="CalDAV has no push: it is polled")
#: Faults of notifications delivered to the endpoint; EWS streams down the connection the operator holds (no
#: secret to forge, nothing the vendor re-delivers): its faults are the dropped connection below and those of
#: tests/ews/test_streaming.py (expired subscriptions, too many connections or subscriptions).
delivered_to_the_endpoint = pytest.mark.calendar_needs(
    "notifies_at_the_endpoint", reason="EWS notifications come down a connection the operator holds"
)


async def _notified(world: World) -> Notified:
    notified = await Notified(world).start()
    await world.sync()  # the first, full cycle
    await notified.settled()
    notified.woken.clear()  # what the first cycle's own writes notified
    return notified


def _read_rooms(world: World, before: dict[str, int]) -> set[str]:
    """The calendar rooms whose request counts moved since ``before`` (what a cycle fetched)."""
    after = _counts(world)
    return {room for room, count in after.items() if count != before[room]}


def _counts(world: World) -> dict[str, int]:
    """Calendar requests per room (a connector counts by room key or by the room's address)."""
    client = next(c for c in world.pool.clients() if c.backend == world.calendar.name)
    return {r.code: client.requests.total(r.code) + client.requests.total(r.mailbox) for r in (F1, F2, F3)}


async def test_a_meeting_booked_in_the_calendar_reaches_planon_by_its_notification(make_world):
    world = await make_world()
    notified = await _notified(world)
    try:
        assert len(await notified.channels()) == 5, "one channel per room calendar"
        await world.outlook.book(BEN, [F1], "Design review", at(1, 10), at(1, 11))
        assert await notified.woken_rooms(F1.code) == {F1.code}, "only the room concerned is woken"
        before = _counts(world)
        results = await notified.sync()
        assert set(results) == {"follow"}
        assert _read_rooms(world, before) == {F1.code}, "the cycle read only the notified room"
        assert [r.subject for r in await world.reservations(F1)] == ["Design review"]
    finally:
        await notified.stop()


async def test_a_planon_kiosk_booking_reaches_the_calendar_by_the_trigger(make_world):
    world = await make_world()
    notified = await _notified(world)
    try:
        await world.kiosk_book(F2, at(2, 9), at(2, 10), "Stand-up")
        assert await notified.woken_rooms(F2.code) == {F2.code}
        await notified.sync()
        assert [e.subject for e in await world.entries(F2)] == ["Stand-up"]
        assert notified.counts[("planon", "accepted")] >= 1
    finally:
        await notified.stop()


@delivered_to_the_endpoint
async def test_a_notification_with_a_wrong_secret_is_refused_and_counted(make_world):
    world = await make_world()
    notified = await _notified(world)
    try:
        channel = (await notified.channels())[0]
        url = channel.get("notificationUrl") or channel.get("address") or ""
        if world.calendar.name == "graph":
            body = {"value": [{"subscriptionId": channel["id"], "clientState": "rs1.forged", "changeType": "updated"}]}
            request = {"json": body}
        else:
            headers = {"X-Goog-Channel-ID": channel["id"], "X-Goog-Resource-State": "exists"}
            request = {"headers": headers | {"X-Goog-Channel-Token": "rs1.forged"}}
        ssl = notified.client_context()
        async with aiohttp.ClientSession() as session, session.post(url, ssl=ssl, **request) as answer:
            assert answer.status == 403
        trigger = url.split("/notifications/")[0] + "/notifications/planon/scenarios/planon/trigger"
        headers = {"Authorization": "Bearer not-the-token"}
        async with aiohttp.ClientSession() as session, session.post(trigger, ssl=ssl, headers=headers) as answer:
            assert answer.status == 401
        assert notified.counts[(world.calendar.name, "refused")] == 1
        assert notified.counts[("planon", "refused")] == 1
        assert not notified.woken, "a refused notification wakes nothing"
    finally:
        await notified.stop()


# -- polling is the safety net: faults ----------------------------------------------------------------------------
async def _fault(world: World, mode: str, count: int = 1, seconds: float = 0.0) -> None:
    sandbox = world.calendar.sandbox  # type: ignore[attr-defined]
    from roomsync.sandbox.outbound import Fault

    outbound = sandbox.state.notifications.outbound if world.calendar.name == "graph" else sandbox.state.push.outbound
    outbound.add_fault(Fault(mode, count, seconds))


@delivered_to_the_endpoint
async def test_a_dropped_notification_loses_nothing_the_safety_net_poll_reads_it(make_world):
    world = await make_world()
    notified = await _notified(world)
    try:
        await _fault(world, "drop")
        await world.outlook.book(BEN, [F1], "Dropped notification", at(1, 10), at(1, 11))
        await notified.settled()
        assert not notified.all_woken(), "the notification was dropped"
        await notified.sync()
        assert await world.reservations(F1) == []
        await world.sync()  # the safety-net poll: every room, incrementally
        assert [r.subject for r in await world.reservations(F1)] == ["Dropped notification"]
    finally:
        await notified.stop()


@delivered_to_the_endpoint
async def test_a_delayed_notification_still_carries_its_change(make_world):
    world = await make_world()
    notified = await _notified(world)
    try:
        await _fault(world, "delay", seconds=1.0)
        await world.outlook.book(BEN, [F1], "Late notification", at(1, 10), at(1, 11))
        await world.kiosk_book(F2, at(1, 14), at(1, 15), "On time")  # Planon's trigger is not delayed
        await notified.woken_rooms(F2.code)
        await notified.sync()
        await notified.woken_rooms(F1.code)  # the late one arrives after a cycle has run
        await notified.sync()
        assert [r.subject for r in await world.reservations(F1)] == ["Late notification"]
        assert [e.subject for e in await world.entries(F2)] == ["On time"]
    finally:
        await notified.stop()


@delivered_to_the_endpoint
async def test_a_duplicated_notification_writes_once(make_world):
    world = await make_world()
    notified = await _notified(world)
    try:
        await _fault(world, "duplicate")
        await world.outlook.book(BEN, [F1], "Said twice", at(1, 10), at(1, 11))
        await notified.settled()
        await notified.sync()
        assert [r.subject for r in await world.reservations(F1)] == ["Said twice"]
        second = await notified.sync()  # a repeat arriving later wakes the room again: nothing to do
        assert all(r.plan is None or not r.plan.actions for r in second.values())
    finally:
        await notified.stop()


@delivered_to_the_endpoint
async def test_reordered_notifications_end_in_the_last_state(make_world):
    world = await make_world()
    notified = await _notified(world)
    try:
        await _fault(world, "reorder", count=2)
        meeting = await world.outlook.book(BEN, [F3], "First title", at(3, 10), at(3, 11))
        await world.outlook.edit(meeting, subject="Final title")
        await notified.woken_rooms(F3.code)
        await notified.settled()
        await notified.sync()
        assert [r.subject for r in await world.reservations(F3)] == ["Final title"]
    finally:
        await notified.stop()


async def test_a_dropped_planon_trigger_loses_nothing(make_world):
    world = await make_world()
    notified = await _notified(world)
    try:
        from roomsync.sandbox.outbound import Fault
        from roomsync.sandbox.planon.event_connector import CONNECTOR_KEY

        world.planon._runner.app[CONNECTOR_KEY].outbound.add_fault(Fault("drop"))  # type: ignore[union-attr]
        await world.kiosk_book(F2, at(2, 9), at(2, 10), "Kiosk, unannounced")
        await notified.settled()
        assert not notified.all_woken()
        await world.sync()  # the safety-net poll
        assert [e.subject for e in await world.entries(F2)] == ["Kiosk, unannounced"]
    finally:
        await notified.stop()


@pytest.mark.calendar_needs("notifies_over_held_connection", reason="only EWS holds a streaming connection")
async def test_a_dropped_streaming_connection_is_opened_again_and_its_rooms_read_once(make_world):
    world = await make_world()
    notified = await _notified(world)
    try:
        sandbox = world.calendar.sandbox  # type: ignore[attr-defined]
        assert len(sandbox.ews.streaming.connections) == 1, "one connection carries every room's subscription"
        await sandbox.admin.drop_ews_streams()
        woken = await notified.woken_rooms(F1.code, F2.code, F3.code)  # events in flight may be lost: read all
        assert {F1.code, F2.code, F3.code} <= woken
        await notified.sync()
        await world.outlook.book(BEN, [F1], "After the drop", at(1, 10), at(1, 11))
        await notified.woken_rooms(F1.code)
        await notified.sync()
        assert [r.subject for r in await world.reservations(F1)] == ["After the drop"]
    finally:
        await notified.stop()
