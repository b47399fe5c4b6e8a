"""Google watch channels through google-api-python-client against the Google sandbox, and the Planon sandbox's Event
Connector app calling the trigger endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import aiohttp
import pytest

from roomsync.connectors.base import BookingRefused
from roomsync.connectors.push import NoticeKind
from roomsync.sandbox.planon import PlanonSandbox
from roomsync.sandbox.planon.event_connector import CONNECTOR_KEY
from roomsync.sync.notify.addresses import Address
from tests.notify.conftest import GOOGLE_ROOMS, PLANON, PLANON_TOKEN

ROOM = GOOGLE_ROOMS[0]


async def _watch(endpoint, google, lifetime=timedelta(days=1)):
    _, client = google
    url, secret = endpoint.address("google", ROOM)
    return await client.push.subscribe(ROOM, url, secret, datetime.now(UTC) + lifetime)


async def test_a_channel_says_sync_first_then_exists_on_every_change(endpoint, google):
    sandbox, client = google
    channel = await _watch(endpoint, google)
    assert channel.resource_id and channel.id.startswith("roomsync-")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    await sandbox.admin.book("ben@contoso.example", [ROOM], "Review", start, start + timedelta(hours=1))
    await sandbox.state.push.outbound.idle()
    states = [h["X-Goog-Resource-State"] for h in endpoint.headers]
    assert states == ["sync", "exists"]
    first, second = endpoint.headers
    assert first["X-Goog-Message-Number"] == "1" and int(second["X-Goog-Message-Number"]) > 1
    assert first["X-Goog-Channel-Token"] == endpoint.address("google", ROOM)[1]
    assert second["X-Goog-Channel-ID"] == channel.id and second["X-Goog-Resource-ID"] == channel.resource_id
    assert second["X-Goog-Channel-Expiration"].endswith("GMT") and second["User-Agent"].startswith("APIs-Google")
    assert endpoint.bodies == [None, None], "messages carry no body"
    assert [w.kind for w in endpoint.wakes] == [NoticeKind.CHANGED], "sync wakes nothing"
    assert endpoint.counts[("google", "confirmed")] == 1
    assert client.requests.by_room[(ROOM, "events.watch", "200")] == 1


async def test_a_channel_lives_at_most_seven_days_and_is_stopped_by_id_and_resource(endpoint, google):
    sandbox, client = google
    channel = await _watch(endpoint, google, lifetime=timedelta(days=30))
    assert channel.expires - datetime.now(UTC) <= timedelta(days=7)
    await client.push.stop(channel)
    await client.push.stop(channel)  # already stopped: not an error
    assert sandbox.state.push.channels == {}
    start = datetime.now(UTC) + timedelta(days=1)
    await sandbox.state.push.outbound.idle()
    await sandbox.admin.book("ben@contoso.example", [ROOM], "Unheard", start, start + timedelta(hours=1))
    await sandbox.state.push.outbound.idle()
    assert endpoint.wakes == []


async def test_google_refuses_what_it_documents_it_refuses(endpoint, google):
    _, client = google
    with pytest.raises(BookingRefused, match="webhookUrlNotHttps"):
        await client.push.subscribe(ROOM, "http://127.0.0.1/n", "t", datetime.now(UTC) + timedelta(days=1))


async def test_the_event_connector_calls_the_trigger_with_its_bearer_token_for_every_change(endpoint):
    async with PlanonSandbox() as planon:
        url = Address.trigger(PLANON).url(endpoint.base)
        async with aiohttp.ClientSession() as session:
            body = {"url": url, "token": PLANON_TOKEN, "ca": endpoint.ca_pem}
            async with session.put(f"{planon.root_url}/_admin/event-connector", json=body) as answer:
                assert answer.status == 200
        start = datetime.combine(datetime.now(UTC).date() + timedelta(days=7), time(9), UTC)  # a weekday, open
        while start.weekday() >= 5:
            start += timedelta(days=1)
        (made,) = await planon.admin.book(["AMS-1.01"], start, start + timedelta(hours=1), "Kiosk")
        await planon.admin.cancel([made["syscode"]])
        connector = planon._runner.app[CONNECTOR_KEY]  # type: ignore[union-attr]
        await connector.outbound.idle()
    assert [b["reservationUnit"] for b in endpoint.bodies] == ["AMS-1.01", "AMS-1.01"], "the booking and its cancel"
    assert all(h["Authorization"] == f"Bearer {PLANON_TOKEN}" for h in endpoint.headers)
    assert [(w.connection, w.units) for w in endpoint.wakes] == [(PLANON, ("AMS-1.01",))] * 2
