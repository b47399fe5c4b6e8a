"""Reading: the first read of a room is a window read (after an IdOnly walk that only yields the sync state), later
reads are SyncFolderItems from the state kept in memory - one request per room when nothing changed - and whatever
goes wrong with the state ends in a window read again. Series come back as one booking with their pattern, moved and
cancelled occurrences; all-day bookings as whole dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from roomsync.connectors.ews import calls
from roomsync.model import Window
from roomsync.sandbox.ews import ExchangeSandbox
from tests.ews.conftest import ANNA, BEN, PAIRS, R1, R2, WINDOW, ClientFactory, StoreFactory, at

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
WEEKLY_5 = {
    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"], "firstDayOfWeek": "monday"},
    "range": {"type": "numbered", "startDate": "2031-03-04", "numberOfOccurrences": 5},
}


def operations(log: list[dict[str, Any]], mailbox: str) -> list[str]:
    return [e["operation"] for e in log if e.get("mailbox") == mailbox and e["status"] == 200]


async def test_first_read_is_a_window_read_then_one_request_per_room(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    for day in range(4, 9):
        await exchange.admin.book_in_outlook(BEN, [R1], f"Meeting {day}", at(day, 9), at(day, 10))
    client = make_client()
    store = make_store(client)
    first = await store.read(WINDOW, full=True)
    assert len(first.bookings) == 5 and first.complete
    log = await exchange.admin.ews_log(R1)
    assert operations(log, R1) == ["SyncFolderItems", "FindItem", "GetItem"]
    walk, view = (e for e in log if e["status"] == 200 and e["operation"] != "GetItem")
    # the state comes from an IdOnly walk (no properties), the bookings from the calendar view
    assert (walk["shape"], walk["properties"], walk["state"], walk["max"]) == ("IdOnly", 0, False, 512)
    assert view["view"][0].startswith("2031-03-01") and view["items"] == 5
    await exchange.admin.reset_ews_requests()
    client.requests.by_room.clear()
    again = await store.read(WINDOW, full=False)
    assert again.bookings == first.bookings
    assert {room: client.requests.total(room) for room in (R1, R2)} == {R1: 1, R2: 1}
    [sync] = [e for e in await exchange.admin.ews_log(R1)]
    assert (sync["operation"], sync["state"], sync["changes"]) == ("SyncFolderItems", True, 0)


async def test_changes_are_read_incrementally_and_our_own_replays_cost_nothing(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    store = make_store()
    uid = await exchange.admin.book_in_outlook(BEN, [R1], "Planning", at(4, 9), at(4, 10), [ANNA])
    await store.read(WINDOW, full=True)
    await exchange.admin.edit(uid, subject="Planning (moved)", start=at(4, 13), end=at(4, 14))
    other = await exchange.admin.book_in_outlook(BEN, [R2], "Retro", at(5, 9), at(5, 10))
    await exchange.admin.reset_ews_requests()
    snapshot = await store.read(WINDOW, full=False)
    booked = {b.id: b for b in snapshot.bookings}
    assert (booked[uid].subject, booked[uid].start) == ("Planning (moved)", at(4, 13)) and other in booked
    log = await exchange.admin.ews_log()
    assert operations(log, R1) == ["SyncFolderItems", "GetItem"] and operations(log, R2) == [
        "SyncFolderItems",
        "GetItem",
    ]
    await exchange.admin.cancel(uid)
    assert [b.status.value for b in (await store.read(WINDOW, full=False)).bookings if b.id == uid] == ["cancelled"]


async def test_sync_pages_follow_max_changes_returned(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    store = make_store(make_client(maxChangesPerRequest=2), rooms=PAIRS[:1])
    await store.read(WINDOW, full=True)
    made = [await exchange.admin.book_in_outlook(BEN, [R1], f"M{d}", at(d, 9), at(d, 10)) for d in range(4, 9)]
    await exchange.admin.reset_ews_requests()
    snapshot = await store.read(WINDOW, full=False)
    assert {b.id for b in snapshot.bookings} == set(made)
    syncs = [e for e in await exchange.admin.ews_log(R1) if e["operation"] == "SyncFolderItems"]
    assert [(e["max"], e["changes"]) for e in syncs] == [(2, 2), (2, 2), (2, 1)]


async def test_an_invalid_sync_state_falls_back_to_a_window_read(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    store = make_store(rooms=PAIRS[:1])
    uid = await exchange.admin.book_in_outlook(BEN, [R1], "Planning", at(4, 9), at(4, 10))
    await store.read(WINDOW, full=True)
    await exchange.admin.expire_sync_states(R1)
    await exchange.admin.reset_ews_requests()
    snapshot = await store.read(WINDOW, full=False)
    assert [b.id for b in snapshot.bookings] == [uid]  # nothing lost, so nothing for the engine to delete
    log = await exchange.admin.ews_log(R1)
    assert [(e["operation"], e["code"]) for e in log][:2] == [
        ("SyncFolderItems", "ErrorInvalidSyncStateData"),
        ("SyncFolderItems", "NoError"),
    ]
    assert "FindItem" in operations(log, R1)
    state = store.client.mailbox_state(R1)
    assert (state.full_reads, state.incremental_reads) == (2, 0)


async def test_a_restart_reads_the_window_again(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    await exchange.admin.book_in_outlook(BEN, [R1], "Planning", at(4, 9), at(4, 10))
    await make_store(rooms=PAIRS[:1]).read(WINDOW, full=True)
    await exchange.admin.reset_ews_requests()
    restarted = make_store(make_client(), rooms=PAIRS[:1])
    assert len((await restarted.read(WINDOW, full=False)).bookings) == 1  # empty memory: a window read
    assert operations(await exchange.admin.ews_log(R1), R1) == ["SyncFolderItems", "FindItem", "GetItem"]


async def test_a_series_is_one_booking_with_its_pattern_moved_and_cancelled_occurrences(
    exchange: ExchangeSandbox, make_store: StoreFactory
) -> None:
    first = datetime(2031, 3, 4, 9, tzinfo=AMSTERDAM)
    pattern = {**WEEKLY_5, "range": {**WEEKLY_5["range"], "recurrenceTimeZone": "W. Europe Standard Time"}}
    uid = await exchange.admin.book_in_outlook(
        BEN, [R1], "Weekly", first, first + timedelta(hours=1), recurrence=pattern, time_zone="Europe/Amsterdam"
    )
    second, third = first + timedelta(days=7), first + timedelta(days=14)
    await exchange.admin.edit_occurrence(
        uid, second, start=second + timedelta(hours=5), end=second + timedelta(hours=6), subject="Moved"
    )
    await exchange.admin.cancel_occurrence(uid, third)
    [booking] = (await make_store().read(WINDOW, full=True)).bookings
    assert booking.recurrence is not None and booking.recurrence.rule() == "FREQ=WEEKLY;BYDAY=TU;COUNT=5"
    assert booking.recurrence.exdates == {third.astimezone(UTC)}
    [moved] = booking.recurrence.overrides
    assert (moved.original_start, moved.start, moved.subject) == (second, second + timedelta(hours=5), "Moved")
    assert booking.timezone in ("Europe/Berlin", "Europe/Amsterdam") and booking.start == first
    starts = [
        o.start
        for o in booking.recurrence.occurrences(
            booking.start, booking.duration, booking.timezone, WINDOW.start, WINDOW.end
        )
    ]
    assert len(starts) == 4 and second + timedelta(hours=5) in starts


async def test_only_series_with_occurrences_in_the_window_are_read(
    exchange: ExchangeSandbox, make_store: StoreFactory
) -> None:
    past = {**WEEKLY_5, "range": {**WEEKLY_5["range"], "startDate": "2031-01-07", "numberOfOccurrences": 3}}
    await exchange.admin.book_in_outlook(
        BEN, [R1], "Over", datetime(2031, 1, 7, 9, tzinfo=UTC), datetime(2031, 1, 7, 10, tzinfo=UTC), recurrence=past
    )
    into = {**WEEKLY_5, "range": {**WEEKLY_5["range"], "startDate": "2031-02-18", "numberOfOccurrences": 4}}
    running = await exchange.admin.book_in_outlook(
        BEN,
        [R1],
        "Running",
        datetime(2031, 2, 18, 9, tzinfo=UTC),
        datetime(2031, 2, 18, 10, tzinfo=UTC),
        recurrence=into,
    )
    assert [b.id for b in (await make_store().read(WINDOW, full=True)).bookings] == [running]


async def test_all_day_bookings_are_whole_dates_in_their_zone(
    exchange: ExchangeSandbox, make_store: StoreFactory
) -> None:
    # 29-30 March 2031: Europe changes to summer time in the night, so the second day is 23 hours long
    start, end = datetime(2031, 3, 29, tzinfo=AMSTERDAM), datetime(2031, 3, 31, tzinfo=AMSTERDAM)
    await exchange.admin.set_processing(R1, MaximumDurationInMinutes=0)  # two days: longer than the default limit
    await exchange.admin.book_in_outlook(BEN, [R1], "Hackathon", start, end, time_zone="Europe/Amsterdam", all_day=True)
    [booking] = (await make_store().read(WINDOW, full=True)).bookings
    assert booking.all_day and (booking.start, booking.end) == (start, end)
    assert booking.end - booking.start == timedelta(hours=47)


async def test_a_moving_window_reads_only_its_new_tail(exchange: ExchangeSandbox, make_store: StoreFactory) -> None:
    store = make_store(rooms=PAIRS[:1])
    early = await exchange.admin.book_in_outlook(BEN, [R1], "Early", at(2, 9), at(2, 10))
    await store.read(WINDOW, full=True)
    assert [i.uid for i in store.client.mailbox_state(R1).items.values()] == [early]
    late = await exchange.admin.book_in_outlook(
        BEN, [R1], "Later", datetime(2031, 5, 8, 9, tzinfo=UTC), datetime(2031, 5, 8, 10, tzinfo=UTC)
    )
    await exchange.admin.reset_ews_requests()
    moved = Window(WINDOW.start + timedelta(days=10), WINDOW.end + timedelta(days=10))
    assert [b.id for b in (await store.read(moved, full=False)).bookings] == [late]
    [view] = [e for e in await exchange.admin.ews_log(R1) if e["operation"] == "FindItem"]
    assert view["view"][0].startswith("2031-05-03")  # the old read ended there (window end plus two days)
    assert [i.uid for i in store.client.mailbox_state(R1).items.values()] == [late]  # the past left the cache


async def test_a_calendar_view_cut_short_is_read_again_in_halves(
    exchange: ExchangeSandbox, make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calls, "VIEW_LIMIT", 2)  # as if the server's EWSFindCountLimit were 2
    made = {await exchange.admin.book_in_outlook(BEN, [R1], f"M{d}", at(d, 9), at(d, 10)) for d in range(4, 9)}
    snapshot = await make_store(rooms=PAIRS[:1]).read(WINDOW, full=True)
    assert {b.id for b in snapshot.bookings} == made
    assert len([e for e in await exchange.admin.ews_log(R1) if e["operation"] == "FindItem"]) > 3


async def test_lookup_finds_a_meeting_outside_the_window_by_its_uid(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    far = await exchange.admin.book_in_outlook(
        BEN, [R2], "Far away", datetime(2031, 8, 1, 9, tzinfo=UTC), datetime(2031, 8, 1, 10, tzinfo=UTC)
    )
    store = make_store()
    assert (await store.read(WINDOW, full=True)).bookings == ()
    found = await store.lookup([far, "040000008200E00074C5B7101A82E00800000000DEADBEEF"])
    assert list(found) == [far] and found[far].rooms == {"R2"}
    restricted = [e for e in await exchange.admin.ews_log(R2) if e["operation"] == "FindItem" and e["restricted"]]
    assert restricted  # by PidLidCleanGlobalObjectId: the UID itself cannot be searched


async def test_requests_are_counted_per_mailbox_as_the_server_saw_them(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    client = make_client()
    store = make_store(client)
    await exchange.admin.book_in_outlook(BEN, [R1, R2], "Both", at(4, 9), at(4, 10))
    await store.read(WINDOW, full=True)
    await store.read(WINDOW, full=False)
    served: dict[tuple[str, str, str], int] = {}
    for entry in await exchange.admin.ews_log():
        if entry["status"] != 401:  # an NTLM leg: the server cannot tell the mailbox before the credentials
            key = (entry["mailbox"], entry["operation"], str(entry["status"]))
            served[key] = served.get(key, 0) + 1
    assert {k: v for k, v in client.requests.by_room.items() if k[2] != "401"} == served
    assert client.requests.total() == len(await exchange.admin.ews_log())
