"""Throttling and errors through the real HTTP stack: fractional Retry-After, the per-mailbox cap, no blind retries."""

from __future__ import annotations

import asyncio
import time

import pytest

from roomsync.connectors.base import BackendUnavailable, Response
from roomsync.connectors.graph.rooms import list_rooms
from roomsync.model import Booking, Link, Person
from roomsync.sandbox.graph import GraphSandbox

from .conftest import ROOM1, ROOM3, WINDOW, ClientFactory, at, store_of


def booking(i: int) -> Booking:
    return Booking(
        id=f"RES-{i}",
        subject=f"Meeting {i}",
        start=at(hours=i),
        end=at(hours=i + 0.5),
        organizer=Person("carol@contoso.com"),
        rooms=frozenset({"MR-1"}),
        link=Link(f"RES-{i}", "fp"),
    )


async def test_429_storm_with_fractional_retry_after_and_concurrency_cap(
    sandbox: GraphSandbox, make_client: ClientFactory
) -> None:
    client = make_client(maxConcurrentPerMailbox=4)
    store = store_of(client, invitations="None")
    await sandbox.admin.set_latency(0.03)
    await sandbox.admin.inject(429, count=6, mailbox=ROOM1, method="POST", retry_after="0.25")
    started = time.monotonic()
    created = await asyncio.gather(*(store.create(booking(i)) for i in range(16)))
    elapsed = time.monotonic() - started
    items = await sandbox.admin.room_events(ROOM1)
    assert len(items) == 16 and len({b.id for b in created}) == 16  # none lost, none duplicated
    assert len({i["transactionId"] for i in items}) == 16
    stats = await sandbox.admin.requests()
    assert stats["maxInFlight"][ROOM1] <= 4  # the sandbox never saw more than 4 at once
    throttled = [r for r in stats["requests"] if r["status"] == 429]
    assert sum(r["count"] for r in throttled) == 6
    assert all(r["operation"] == "events.create" for r in throttled)  # no MailboxConcurrency 429 at all
    assert client.requests.by_room[("MR-1", "events.create", "429")] == 6
    assert client.requests.by_room[("MR-1", "events.create", "201")] == 16
    assert elapsed >= 0.25  # the fractional Retry-After was honoured (kiota's handler would have waited 3 s+)
    assert client.requests.throttled_seconds >= 6 * 0.25


async def test_non_idempotent_post_is_not_repeated_on_503(sandbox: GraphSandbox, make_client: ClientFactory) -> None:
    client = make_client(maxAttempts=4)
    store = store_of(client)
    await sandbox.admin.book_in_outlook("alice@contoso.com", [ROOM3], "Pending", at(hours=1), at(hours=2))
    (pending,) = (await store.read(WINDOW, full=True)).bookings
    await sandbox.admin.inject(503, count=1, mailbox=ROOM3, path_contains="/accept", retry_after="0.01")
    with pytest.raises(BackendUnavailable):
        await store.respond(pending, Response.ACCEPT, "ok")
    counts = client.requests.by_room
    assert counts[("MR-3", "events.accept", "503")] == 1 and counts[("MR-3", "events.accept", "202")] == 0
    await store.respond(pending, Response.ACCEPT, "ok")  # the next cycle answers it
    assert (await sandbox.admin.room_events(ROOM3))[0]["response"] == "accepted"


async def test_idempotent_get_is_retried_on_503_and_504_then_gives_up(
    sandbox: GraphSandbox, make_client: ClientFactory
) -> None:
    client = make_client(maxAttempts=3)
    store = store_of(client)
    await sandbox.admin.inject(503, count=1, mailbox=ROOM1, retry_after="0.01")
    await sandbox.admin.inject(504, count=1, mailbox=ROOM1, retry_after="0.01")
    snap = await store.read(WINDOW, full=True)
    assert snap.complete
    assert client.requests.by_room[("MR-1", "delta", "503")] + client.requests.by_room[("MR-1", "delta", "504")] == 2
    await sandbox.admin.inject(503, count=10, mailbox=ROOM1, retry_after="0.01")
    snap = await store.read(WINDOW, full=True)
    assert snap.unreadable_rooms == {"MR-1"}  # the other rooms are still read


@pytest.mark.parametrize("batch_size", [1, 20])
async def test_slow_answers_and_resets_on_reads(
    sandbox: GraphSandbox, make_client: ClientFactory, batch_size: int
) -> None:
    client = make_client(maxAttempts=3, batchSize=batch_size)
    store = store_of(client)
    await sandbox.admin.book_in_outlook("alice@contoso.com", [ROOM1], "X", at(hours=1), at(hours=2))
    await sandbox.admin.inject(reset=True, count=1, mailbox=ROOM1, method="GET")
    await sandbox.admin.inject(delay=0.2, count=1, mailbox=ROOM1, method="GET")
    snap = await store.read(WINDOW, full=True)
    assert snap.complete and len(snap.bookings) == 1
    # the connection dropped while the room's read was answered: alone, that read; in a $batch, the whole batch
    # (every request in it is a read, so the batch is repeated)
    reset = ("MR-1", "delta", "reset") if batch_size == 1 else ("", "$batch", "reset")
    assert client.requests.by_room[reset] == 1


async def test_list_rooms_via_places(sandbox: GraphSandbox, make_client: ClientFactory) -> None:
    client = make_client()
    rooms = await list_rooms(client.graph, page_size=2)
    assert [r.key for r in rooms] == ["mr-1@contoso.com", "mr-2@contoso.com", "mr-3@contoso.com"]
    assert rooms[0].name == "Room 1" and rooms[0].email == rooms[0].key
    assert client.requests.by_room[("", "places", "200")] == 2  # followed the nextLink; about no room
    assert await client.rooms() == rooms
