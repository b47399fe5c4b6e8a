"""Quotas and errors through the real HTTP stack: 403 rate limits and 429 backed off with jitter, one budget for
every room of the delegated user, 5xx that outlive their attempts, and every attempt counted per room."""

from __future__ import annotations

import asyncio

import pytest

from roomsync.connectors.base import BackendUnavailable
from roomsync.connectors.google import GoogleClient
from roomsync.connectors.google.store import GoogleStore
from roomsync.connectors.google.transport import Budget
from roomsync.sandbox.google import GoogleSandbox

from .conftest import CAROL, ROOM1, ROOM2, WINDOW, ClientFactory, at, store_of


async def test_rate_limits_and_429_are_retried_and_counted(
    sandbox: GoogleSandbox, client: GoogleClient, store: GoogleStore
) -> None:
    await sandbox.admin.book(CAROL, [ROOM1], "Review", at(1), at(1, 1))
    await sandbox.admin.inject(403, reason="rateLimitExceeded", calendar=ROOM1)
    await sandbox.admin.inject(429, calendar=ROOM1)
    await sandbox.admin.inject(403, reason="userRateLimitExceeded", calendar=ROOM1)
    snapshot = await store.read(WINDOW, full=True)
    assert [b.subject for b in snapshot.bookings] == ["Review"] and not snapshot.unreadable_rooms
    counts = client.requests.by_room
    assert (counts[(ROOM1, "events.list", "403")], counts[(ROOM1, "events.list", "429")]) == (2, 1)
    assert counts[(ROOM1, "events.list", "200")] == 1 and client.requests.throttled_seconds > 0


async def test_server_errors_that_outlive_their_attempts_leave_the_room_unreadable(
    sandbox: GoogleSandbox, make_client: ClientFactory
) -> None:
    client = make_client(maxAttempts=2)
    await sandbox.admin.inject(503, calendar=ROOM2, count=2)
    snapshot = await store_of(client).read(WINDOW, full=True)
    assert snapshot.unreadable_rooms == {"MR-2"}  # the others are read; nothing of room 2 may be deleted
    assert client.requests.by_room[(ROOM2, "events.list", "503")] == 2
    await sandbox.admin.inject(403, reason="forbiddenForNonOrganizer", calendar=ROOM1, method="GET")
    with pytest.raises(Exception, match="forbiddenForNonOrganizer"):
        await store_of(client).lookup(["missing@google.com"])


async def test_the_sandbox_quota_is_waited_out_by_every_room_together(
    sandbox: GoogleSandbox, make_client: ClientFactory
) -> None:
    await sandbox.admin.set_quota(per_user=2, window_seconds=0.2)
    client = make_client(maxAttempts=10, backoffBaseMilliseconds=50)
    snapshot = await store_of(client).read(WINDOW, full=True)
    assert not snapshot.unreadable_rooms
    refused = sum(n for (_, op, status), n in client.requests.by_room.items() if status == "403")
    assert refused >= 1 and client.requests.by_operation()[("events.list", "200")] == 3


async def test_one_budget_per_delegated_user_across_rooms() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    budget = Budget(3, window=60.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):  # three rooms' requests at t=0 go straight out
        await budget.take()
    await budget.take()  # the fourth waits for the window to slide
    assert slept == [60.0] and budget.waited == 60.0
    budget.pause(5.0)  # a throttling answer for one room pauses them all
    await asyncio.gather(budget.take(), budget.take())
    assert now[0] >= 65.0


async def test_request_timeouts_and_drops_are_backend_unavailable(
    sandbox: GoogleSandbox, make_client: ClientFactory
) -> None:
    client = make_client(maxAttempts=1)
    await sandbox.admin.inject(500, reason="backendError", calendar=ROOM1, count=3)
    await sandbox.admin.inject(500, reason="backendError", calendar=ROOM2, count=3)
    await sandbox.admin.set_room_writers([])  # and room 3 is not shared with the booking user
    with pytest.raises(BackendUnavailable, match="500 backendError"):
        await store_of(client).read(WINDOW, full=True)
