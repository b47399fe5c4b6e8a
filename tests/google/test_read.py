"""Reading room calendars through the real client library: full and incremental (syncToken) reads, 410, paging,
series with exceptions and cancelled occurrences, cancelled stubs, and Google's room auto-replacement."""

from __future__ import annotations

from roomsync.connectors.google import GoogleClient
from roomsync.connectors.google.store import GoogleStore
from roomsync.model import Status
from roomsync.sandbox.google import GoogleSandbox

from .conftest import CAROL, DAVE, ROOM1, ROOM2, ROOM3, WINDOW, ClientFactory, at, store_of


async def test_incremental_cycles_cost_one_request_per_room_and_see_edits(
    sandbox: GoogleSandbox, client: GoogleClient, store: GoogleStore
) -> None:
    uid = await sandbox.admin.book(
        CAROL, [ROOM1], "Design review", at(1), at(1, 1), [DAVE], time_zone="Europe/Amsterdam"
    )
    (booking,) = (await store.read(WINDOW, full=True)).bookings
    assert (booking.id, booking.subject, booking.rooms, booking.organizer and booking.organizer.email) == (
        uid,
        "Design review",
        {"MR-1"},
        CAROL,
    )
    assert {p.email for p in booking.required} == {DAVE}
    client.requests.by_room.clear()
    (again,) = (await store.read(WINDOW, full=False)).bookings
    assert client.requests.total() == 3 and all(client.requests.total(r) == 1 for r in (ROOM1, ROOM2, ROOM3))
    assert again.handle == booking.handle

    await sandbox.admin.edit(uid, subject="Design review (moved)", start=at(2), end=at(2, 1))
    (moved,) = (await store.read(WINDOW, full=False)).bookings
    assert (moved.subject, moved.start) == ("Design review (moved)", at(2))
    assert moved.handle is not None and moved.handle.versions != booking.handle.versions  # new etag


async def test_an_expired_sync_token_is_a_full_read_that_loses_nothing(
    sandbox: GoogleSandbox, client: GoogleClient, store: GoogleStore
) -> None:
    await sandbox.admin.book(CAROL, [ROOM1], "Standing", at(1), at(1, 1))
    await store.read(WINDOW, full=True)
    await sandbox.admin.expire_sync_tokens()
    client.requests.by_room.clear()
    snapshot = await store.read(WINDOW, full=False)
    assert [b.subject for b in snapshot.bookings] == ["Standing"] and not snapshot.unreadable_rooms
    assert client.requests.by_operation()[("events.list", "410")] == 3  # each room: 410, then a full list
    assert client.requests.by_operation()[("events.list", "200")] == 3


async def test_paging_reads_every_page(sandbox: GoogleSandbox, make_client: ClientFactory) -> None:
    for i in range(23):
        await sandbox.admin.book(CAROL, [ROOM2], f"Meeting {i}", at(1, i * 0.5), at(1, i * 0.5 + 0.25))
    client = make_client(pageSize=10)
    store = store_of(client)
    assert len((await store.read(WINDOW, full=True)).bookings) == 23
    assert client.requests.by_room[(ROOM2, "events.list", "200")] == 3


async def test_a_series_with_a_moved_and_a_deleted_occurrence(sandbox: GoogleSandbox, store: GoogleStore) -> None:
    uid = await sandbox.admin.book(
        CAROL,
        [ROOM1],
        "Weekly",
        at(1),
        at(1, 1),
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=6"],
        time_zone="Europe/Amsterdam",
    )
    await store.read(WINDOW, full=True)
    await sandbox.admin.edit_occurrence(uid, at(8), start=at(8, 5), end=at(8, 6))
    await sandbox.admin.cancel_occurrence(uid, at(15))
    (series,) = (await store.read(WINDOW, full=False)).bookings  # the deletion arrives as a stub
    assert series.recurrence is not None and series.recurrence.rule() == "FREQ=WEEKLY;COUNT=6"
    assert series.recurrence.exdates == {at(15)}
    [moved] = series.recurrence.overrides
    assert (moved.original_start, moved.start, moved.end) == (at(8), at(8, 5), at(8, 6))
    stubs = [e for e in await sandbox.admin.events(ROOM1) if e.get("recurringEventId") and e["status"] == "cancelled"]
    assert len(stubs) == 1


async def test_a_cancelled_meeting_is_reported_cancelled_not_dropped(
    sandbox: GoogleSandbox, store: GoogleStore
) -> None:
    uid = await sandbox.admin.book(CAROL, [ROOM1, ROOM2], "Offsite prep", at(3), at(3, 2))
    (booking,) = (await store.read(WINDOW, full=True)).bookings
    assert booking.rooms == {"MR-1", "MR-2"}
    await sandbox.admin.cancel(uid)
    (gone,) = (await store.read(WINDOW, full=False)).bookings
    assert gone.id == uid and gone.status is Status.CANCELLED


async def test_auto_replacement_is_found_by_ical_uid_in_the_new_room(
    sandbox: GoogleSandbox, store: GoogleStore
) -> None:
    await sandbox.admin.set_room(ROOM1, autoReplace=True)
    await sandbox.admin.book(DAVE, [ROOM1], "Blocker", at(1, 3), at(1, 4))
    uid = await sandbox.admin.book(CAROL, [ROOM1], "Planning", at(1), at(1, 1))
    assert [b.rooms for b in (await store.read(WINDOW, full=True)).bookings if b.id == uid] == [{"MR-1"}]
    await sandbox.admin.edit(uid, start=at(1, 3), end=at(1, 4))  # into the blocker: room 1 declines, room 2 replaces
    found = await store.lookup([uid])
    assert found[uid].rooms == {"MR-2"} and found[uid].status is Status.CONFIRMED
    (replaced,) = [b for b in (await store.read(WINDOW, full=False)).bookings if b.id == uid]
    assert replaced.rooms == {"MR-2"} and replaced.start == at(1, 3)
    assert [r["by"] for r in await sandbox.admin.responses() if r["iCalUID"] == uid][-2:] == ["replaced", "resource"]


async def test_rooms_from_the_directory(client: GoogleClient) -> None:
    rooms = await client.rooms()
    assert [(r.key, r.capacity, r.building, r.floor) for r in rooms] == [
        (ROOM1, 8, "AMS", "1"),
        (ROOM2, 8, "AMS", "1"),
        (ROOM3, 12, "AMS", "2"),
    ]
    assert client.requests.by_room[("", "resources.calendars.list", "200")] == 1
