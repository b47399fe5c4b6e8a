"""Throttling and faults: ErrorServerBusy with BackOffMilliseconds, ErrorExceededConnectionCount, HTTP 503, SOAP
faults on HTTP 500, resets and time-outs - reads are retried within bounds, writes only when Exchange surely did not
carry them out - and the thread pool and per-budget limits that keep RoomSync within EWSMaxConcurrency without
ever blocking the event loop."""

from __future__ import annotations

import asyncio
import time

import pytest

from roomsync.connectors.base import BackendUnavailable, PreconditionFailed
from roomsync.connectors.ews.errors import WriteUncertain
from roomsync.model import Link
from roomsync.sandbox.ews import ExchangeSandbox
from tests.ews.conftest import BEN, PAIRS, R1, R2, R3, WINDOW, ClientFactory, StoreFactory, at
from tests.ews.test_write import planon_booking


async def _codes(exchange: ExchangeSandbox, operation: str) -> list[str]:
    return [e["code"] for e in await exchange.admin.ews_log(R1) if e["operation"] == operation]


async def test_server_busy_is_honoured_with_its_back_off(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    client = make_client()
    await exchange.admin.ews_fault("ServerBusy", mailbox=R1, operation="FindItem", count=2, back_off_ms=1500)
    snapshot = await make_store(client).read(WINDOW, full=True)
    assert snapshot.complete
    assert await _codes(exchange, "FindItem") == ["ErrorServerBusy", "ErrorServerBusy", "NoError"]
    assert client.requests.throttled_seconds == pytest.approx(3.0)  # BackOffMilliseconds, twice
    assert client.requests.by_room[(R1, "FindItem", "500")] == 2


async def test_a_back_off_longer_than_allowed_is_not_waited_for(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    client = make_client(maxRetryAfterSeconds=5)
    await exchange.admin.ews_fault("ServerBusy", mailbox=R1, operation="FindItem", back_off_ms=30_000)
    snapshot = await make_store(client, rooms=PAIRS).read(WINDOW, full=True)
    assert snapshot.unreadable_rooms == {"R1"} and client.requests.throttled_seconds == 0
    await exchange.admin.clear_ews_faults()
    assert (await make_store(client).read(WINDOW, full=False)).complete  # the next cycle reads it


@pytest.mark.parametrize("kind", ["Unavailable", "InternalError", "Reset", "ConnectionCount"])
async def test_a_read_is_retried_after_a_fault(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory, kind: str
) -> None:
    await exchange.admin.book_in_outlook(BEN, [R1], "Planning", at(4, 9), at(4, 10))
    await exchange.admin.ews_fault(kind, mailbox=R1, operation="GetItem")
    snapshot = await make_store(make_client(), rooms=PAIRS[:1]).read(WINDOW, full=True)
    assert len(snapshot.bookings) == 1 and snapshot.complete
    statuses = [e["status"] for e in await exchange.admin.ews_log(R1) if e["operation"] == "GetItem"]
    assert statuses == [{"Unavailable": 503, "Reset": -1}.get(kind, 500), 200]


async def test_a_persistent_fault_is_reported_with_its_name(
    make_client: ClientFactory, make_store: StoreFactory, exchange: ExchangeSandbox
) -> None:
    await exchange.admin.ews_fault("InternalError", code="ErrorMailboxStoreUnavailable", count=50)
    client = make_client(maxAttempts=3)
    with pytest.raises(BackendUnavailable, match="ErrorMailboxStoreUnavailable"):
        await make_store(client).read(WINDOW, full=True)
    assert client.requests.total(R1) == 3 + 2  # three attempts (plus the NTLM handshake of the connection)


@pytest.mark.parametrize("kind", ["Unavailable", "InternalError", "Reset"])
async def test_a_write_that_may_have_happened_is_not_repeated(
    exchange: ExchangeSandbox, make_store: StoreFactory, kind: str
) -> None:
    store = make_store()
    await store.create(planon_booking())
    [current] = (await store.read(WINDOW, full=True)).bookings
    await exchange.admin.ews_fault(kind, mailbox=R1, operation="UpdateItem", after=True)
    with pytest.raises(WriteUncertain):
        await store.relink(current, Link("rs-1", "fp2", 2))
    assert len([e for e in await exchange.admin.ews_log(R1) if e["operation"] == "UpdateItem"]) == 1
    # the next cycle reads what happened: the link was written, the ChangeKey moved on
    [after] = (await store.read(WINDOW, full=False)).bookings
    assert after.link == Link("rs-1", "fp2", 2)
    with pytest.raises(PreconditionFailed):
        await store.relink(current, Link("rs-1", "fp3", 3))  # and the stale version is refused, not overwritten


async def test_a_throttled_write_is_repeated(exchange: ExchangeSandbox, make_store: StoreFactory) -> None:
    store = make_store()
    await store.create(planon_booking())
    [current] = (await store.read(WINDOW, full=True)).bookings
    await exchange.admin.ews_fault("ConnectionCount", mailbox=R1, operation="UpdateItem")
    await store.relink(current, Link("rs-1", "fp2", 2))
    assert await _codes(exchange, "UpdateItem") == ["ErrorExceededConnectionCount", "NoError"]


async def test_a_timed_out_read_is_retried_and_a_timed_out_write_is_not(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    store = make_store(make_client(settings={"request_timeout": 0.4}), rooms=PAIRS[:1])
    await store.create(planon_booking())
    await exchange.admin.ews_fault("Delay", mailbox=R1, operation="SyncFolderItems", delay=1.0)
    [current] = (await store.read(WINDOW, full=True)).bookings
    assert store.client.requests.by_room[(R1, "SyncFolderItems", "timeout")] == 1
    await exchange.admin.ews_fault("Delay", mailbox=R1, operation="UpdateItem", delay=1.0)
    with pytest.raises(WriteUncertain):
        await store.relink(current, Link("rs-1", "fp2", 2))
    assert store.client.requests.by_room[(R1, "UpdateItem", "timeout")] == 1


async def test_impersonation_limits_concurrency_per_room(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    for room in (R1, R2, R3):
        for day in (4, 5, 6):
            await exchange.admin.book_in_outlook(BEN, [room], "M", at(day, 9), at(day, 10))
    await exchange.admin.set_ews_latency(0.05)
    await exchange.admin.set_ews_concurrency(1)  # EWSMaxConcurrency 1: a second request in flight is refused
    client = make_client(maxConcurrentRequests=1, threads=6)
    stores = [make_store(client, rooms=PAIRS) for _ in range(3)]  # three RoomSyncs sharing the Connection
    snapshots = await asyncio.gather(*(s.read(WINDOW, full=True) for s in stores))
    assert all(s.complete and len(s.bookings) == 9 for s in snapshots)
    summary = await exchange.admin.ews_requests()
    assert summary["maxInFlight"] == {R1: 1, R2: 1, R3: 1}  # rooms in parallel, each room one at a time
    assert not [e for e in await exchange.admin.ews_log() if e["code"] == "ErrorExceededConnectionCount"]


async def test_delegate_access_limits_concurrency_for_the_whole_connection(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    await exchange.admin.set_ews_latency(0.05)
    client = make_client(access_type="Delegate", maxConcurrentRequests=2, threads=6)
    await make_store(client).read(WINDOW, full=True)
    summary = await exchange.admin.ews_requests()
    assert summary["maxInFlight"] == {"account:CORP\\svc-roomsync": 2}


async def test_exchangelib_never_blocks_the_event_loop(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    await exchange.admin.set_ews_latency(0.3)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    await make_store(make_client(), rooms=PAIRS[:1]).read(WINDOW, full=True)
    elapsed = time.monotonic() - started
    task.cancel()
    assert elapsed >= 0.6 and ticks >= elapsed / 0.01 * 0.5  # the loop kept running while EWS answered slowly
