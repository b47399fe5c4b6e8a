"""Incremental reads by a change timestamp: fewer records per cycle, the same snapshot as a full read."""

from __future__ import annotations

from datetime import timedelta

from roomsync.connectors.registry import StoreOptions
from roomsync.model import Window, fingerprint
from roomsync.sandbox.planon import PlanonSandbox
from tests.planon.conftest import ROOMS, ClientFactory, monday, sent


def keyed(snapshot_bookings: tuple) -> dict[str, str]:  # type: ignore[type-arg]
    return {b.id: f"{fingerprint(b)}:{b.status.value}" for b in snapshot_bookings}


async def test_incremental_read_sees_changes_and_matches_a_full_read(
    make_client: ClientFactory, sandbox: PlanonSandbox
) -> None:
    client = make_client(reservationFields={"changedAt": "SysChangeDateTime"}, changeOverlapSeconds=0)
    store = client.store(ROOMS, StoreOptions("default/rs"))
    start = monday()
    window = Window(start - timedelta(days=1), start + timedelta(days=20))
    a = await sandbox.admin.book("AMS-1.01", start, start + timedelta(hours=1), "A")
    b = await sandbox.admin.book("AMS-1.02", start, start + timedelta(hours=1), "B")
    first = await store.read(window, full=True)
    assert first.full and len(first.bookings) == 2

    await sandbox.admin.edit(a[0]["syscode"], subject="A renamed")
    await sandbox.admin.cancel(b[0]["syscode"])
    await sandbox.admin.book("AMS-2.01", start, start + timedelta(hours=1), "C")
    await sandbox.admin.edit(a[0]["syscode"], fields={})  # touched again: still one record
    incremental = await store.read(window, full=False)
    assert not incremental.full
    full = await make_client().store(ROOMS, StoreOptions("default/rs")).read(window, full=True)
    assert keyed(incremental.bookings) == keyed(full.bookings)
    assert {b.subject for b in incremental.bookings} == {"A renamed", "B", "C"}


async def test_incremental_read_picks_up_the_windows_new_tail(
    make_client: ClientFactory, sandbox: PlanonSandbox
) -> None:
    client = make_client(reservationFields={"changedAt": "SysChangeDateTime"})
    store = client.store(ROOMS, StoreOptions("default/rs"))
    start = monday()
    later = start + timedelta(days=10)
    await sandbox.admin.book("AMS-1.01", start, start + timedelta(hours=1), "Now")
    await sandbox.admin.book("AMS-1.01", later, later + timedelta(hours=1), "Later")
    first = await store.read(Window(start - timedelta(days=1), start + timedelta(days=5)), full=True)
    assert [b.subject for b in first.bookings] == ["Now"]
    client.requests.by_room.clear()
    moved = await store.read(Window(start - timedelta(days=1), start + timedelta(days=15)), full=False)
    assert sorted(b.subject for b in moved.bookings) == ["Later", "Now"] and not moved.full
    assert sent(client, "read/UsrReservationMeetingRoom") == 2  # changes + the new tail, one chunk each


async def test_without_a_change_field_every_read_is_full(store, sandbox: PlanonSandbox) -> None:  # type: ignore[no-untyped-def]
    start = monday()
    await sandbox.admin.book("AMS-1.01", start, start + timedelta(hours=1), "A")
    snapshot = await store.read(Window(start - timedelta(days=1), start + timedelta(days=1)), full=False)
    assert snapshot.full and len(snapshot.bookings) == 1
