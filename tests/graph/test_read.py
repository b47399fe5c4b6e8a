"""Reading room calendars through the real SDK: grouping, delta rounds, recurrence, look-ups, request counts."""

from __future__ import annotations

from datetime import timedelta

from roomsync.connectors.graph import GraphClient
from roomsync.connectors.graph.store import GraphStore
from roomsync.model import Link, Person, Status, Window
from roomsync.sandbox.graph import GraphSandbox

from .conftest import BATCH, ROOM1, ROOM2, ROOM3, WINDOW, at, batches, mailbox_requests


def delta_requests(client: GraphClient) -> int:
    return sum(n for (op, _), n in client.requests.by_operation().items() if op == "delta")


async def test_full_read_groups_room_copies_into_one_booking(sandbox: GraphSandbox, store: GraphStore) -> None:
    uid = await sandbox.admin.book_in_outlook(
        "alice@contoso.com",
        [ROOM1, ROOM2],
        "Quarterly review",
        at(hours=1),
        at(hours=2),
        ["bob@contoso.com"],
        optional=["carol@contoso.com"],
        organizer_name="Alice",
    )
    snap = await store.read(WINDOW, full=True)
    assert snap.complete and len(snap.bookings) == 1
    booking = snap.bookings[0]
    assert booking.id == uid == booking.ical_uid
    assert booking.rooms == {"MR-1", "MR-2"}
    assert set(booking.handle.items) == {"MR-1", "MR-2"}
    assert booking.organizer == Person("alice@contoso.com")
    assert {p.email for p in booking.required} == {"bob@contoso.com"}  # rooms are not people
    assert {p.email for p in booking.optional} == {"carol@contoso.com"}
    assert (booking.start, booking.end) == (at(hours=1), at(hours=2))
    assert booking.status is Status.CONFIRMED and not booking.awaiting_response
    # AutoAccept with the Exchange defaults rewrote the room's subject: the organizer's name.
    assert booking.subject == "Alice"


async def test_auto_update_room_holds_request_awaiting_response(sandbox: GraphSandbox, store: GraphStore) -> None:
    await sandbox.admin.book_in_outlook("alice@contoso.com", [ROOM3], "Pending", at(hours=1), at(hours=2))
    (booking,) = (await store.read(WINDOW, full=True)).bookings
    assert booking.rooms == {"MR-3"}
    assert booking.awaiting_response and booking.status is Status.TENTATIVE
    assert booking.subject == "Pending"  # only the Calendar Attendant ran: no subject rewrite


async def test_steady_state_costs_one_delta_request_per_room(
    sandbox: GraphSandbox, client: GraphClient, store: GraphStore
) -> None:
    for i in range(3):
        await sandbox.admin.book_in_outlook("alice@contoso.com", [ROOM1], f"M{i}", at(days=i), at(days=i, hours=1))
    first = await store.read(WINDOW, full=True)
    before, sent = mailbox_requests(client), batches(client)
    second = await store.read(WINDOW, full=False)
    assert mailbox_requests(client) - before == 3  # one delta request per room, nothing else
    assert batches(client) - sent == 1  # all three in one $batch: one HTTP request
    assert delta_requests(client) == 6
    assert {b.id for b in second.bookings} == {b.id for b in first.bookings}
    # a rolling window (a minute later) keeps the same deltaLink
    later = Window(WINDOW.start + timedelta(minutes=1), WINDOW.end + timedelta(minutes=1))
    before = mailbox_requests(client)
    await store.read(later, full=False)
    assert mailbox_requests(client) - before == 3


async def test_incremental_read_sees_add_change_and_removal(
    sandbox: GraphSandbox, client: GraphClient, store: GraphStore
) -> None:
    await sandbox.admin.set_processing(ROOM1, add_organizer_to_subject=False, delete_subject=False)
    keep = await sandbox.admin.book_in_outlook("alice@contoso.com", [ROOM1], "Keep", at(hours=1), at(hours=2))
    gone = await sandbox.admin.book_in_outlook("alice@contoso.com", [ROOM1], "Gone", at(hours=3), at(hours=4))
    await store.read(WINDOW, full=True)
    new = await sandbox.admin.book_in_outlook("bob@contoso.com", [ROOM1], "New", at(days=1), at(days=1, hours=1))
    await sandbox.admin.edit(keep, subject="Kept and renamed", end=at(hours=2.5))
    await sandbox.admin.cancel(gone)
    before = dict(client.requests.by_room)
    snap = await store.read(WINDOW, full=False)
    spent = {
        k: v - before.get(k, 0) for k, v in client.requests.by_room.items() if v != before.get(k, 0) and k[1] != BATCH
    }
    by_id = {b.id: b for b in snap.bookings}
    assert by_id[keep].subject == "Kept and renamed" and by_id[keep].end == at(hours=2.5)
    assert by_id[new].subject == "New"
    # the organizer cancelled: the room keeps the item, marked cancelled (RemoveCanceledMeetings $false)
    assert by_id[gone].status is Status.CANCELLED
    # one delta request per room; the new item is a meeting request bob organised, which cannot carry a RoomSync
    # link: its delta entry is taken as it is, no GET
    assert spent == {
        ("MR-1", "delta", "200"): 1,
        ("MR-2", "delta", "200"): 1,
        ("MR-3", "delta", "200"): 1,
    }
    await sandbox.admin.set_processing(ROOM1, remove_canceled_meetings=True)
    await sandbox.admin.cancel(new)
    snap = await store.read(WINDOW, full=False)
    assert new not in {b.id for b in snap.bookings}  # @removed


async def test_expired_delta_token_falls_back_to_a_full_read(
    sandbox: GraphSandbox, client: GraphClient, store: GraphStore
) -> None:
    uid = await sandbox.admin.book_in_outlook("alice@contoso.com", [ROOM1], "Stay", at(hours=1), at(hours=2))
    await store.read(WINDOW, full=True)
    assert await sandbox.admin.expire_delta_tokens(ROOM1) >= 1
    snap = await store.read(WINDOW, full=False)
    assert client.requests.by_room[("MR-1", "delta", "410")] == 1
    assert client.requests.by_room[("MR-1", "calendarView", "200")] == 2  # the fallback full read
    assert [b.id for b in snap.bookings] == [uid]  # nothing is reported gone because of the reset
    assert client.mailbox_state(ROOM1).full_reads == 2


async def test_out_of_window_change_is_not_in_snapshot_but_found_by_lookup(
    sandbox: GraphSandbox, store: GraphStore
) -> None:
    uid = await sandbox.admin.book_in_outlook("alice@contoso.com", [ROOM1, ROOM2], "Moves", at(hours=1), at(hours=2))
    snap = await store.read(WINDOW, full=True)
    assert [b.id for b in snap.bookings] == [uid]
    await sandbox.admin.edit(uid, start=at(days=100), end=at(days=100, hours=1))  # inside the booking window
    snap = await store.read(WINDOW, full=False)
    assert snap.bookings == ()  # left the window (delta says @removed)
    found = await store.lookup([uid, "no-such-uid"])
    assert set(found) == {uid}
    assert found[uid].start == at(days=100) and found[uid].rooms == {"MR-1", "MR-2"}


async def test_link_property_is_read_with_expand_and_survives_organizer_edits(
    sandbox: GraphSandbox, client: GraphClient, store: GraphStore
) -> None:
    uid = await sandbox.admin.book_in_outlook("alice@contoso.com", [ROOM1], "Linked", at(hours=1), at(hours=2))
    (booking,) = (await store.read(WINDOW, full=True)).bookings
    await store.relink(booking, Link("RES-42", "f00d", seq=3))
    room_items = await sandbox.admin.room_events(ROOM1)
    assert room_items[0]["extendedProperties"] == {client.settings.link_property_id: "rs1;3;f00d;RES-42"}
    await sandbox.admin.edit(uid, subject="Renamed by Alice")
    incremental = (await store.read(WINDOW, full=False)).bookings[0]
    fresh = (await store.read(WINDOW, full=True)).bookings[0]
    assert incremental.link == fresh.link == Link("RES-42", "f00d", seq=3)
    log = await sandbox.admin.log(ROOM1)
    view = [e for e in log if e["operation"] == "calendarView"]
    assert all("singleValueExtendedProperties" in e["path"] for e in view)


async def test_recurring_series_with_exception_and_cancelled_occurrence(
    sandbox: GraphSandbox, store: GraphStore
) -> None:
    recurrence = {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "monday"},
        "range": {"type": "numbered", "startDate": "2031-03-03", "numberOfOccurrences": 6},
    }
    uid = await sandbox.admin.book_in_outlook(
        "alice@contoso.com",
        [ROOM1],
        "Weekly",
        at(hours=1),
        at(hours=2),
        recurrence=recurrence,
        time_zone="Europe/Amsterdam",
    )
    await sandbox.admin.cancel_occurrence(uid, at(days=14, hours=1))
    await sandbox.admin.edit_occurrence(uid, at(days=7, hours=1), start=at(days=8, hours=3), end=at(days=8, hours=4))
    (booking,) = (await store.read(WINDOW, full=True)).bookings
    assert booking.id == uid and booking.timezone == "Europe/Amsterdam"
    rule = booking.recurrence
    assert rule is not None and rule.rule() == "FREQ=WEEKLY;BYDAY=MO;COUNT=6"
    assert rule.exdates == {at(days=14, hours=1)}
    (override,) = rule.overrides
    assert (override.original_start, override.start, override.end) == (
        at(days=7, hours=1),
        at(days=8, hours=3),
        at(days=8, hours=4),
    )
    starts = [
        o.start for o in rule.occurrences(booking.start, booking.duration, booking.timezone, WINDOW.start, WINDOW.end)
    ]
    # 11:00 in Amsterdam stays 11:00 across the DST change of 2031-03-30: 10:00 UTC becomes 09:00 UTC
    assert starts == [at(hours=1), at(days=8, hours=3), at(days=21, hours=1), at(days=28), at(days=35)]
    # an occurrence cancelled later arrives through delta and refreshes the master once
    await sandbox.admin.cancel_occurrence(uid, at(days=21, hours=1))
    (booking,) = (await store.read(WINDOW, full=False)).bookings
    assert booking.recurrence is not None and booking.recurrence.exdates == {at(days=14, hours=1), at(days=21, hours=1)}


async def test_unreadable_room_is_reported_not_emptied(
    sandbox: GraphSandbox, client: GraphClient, store: GraphStore
) -> None:
    await sandbox.admin.book_in_outlook("alice@contoso.com", [ROOM1], "Visible", at(hours=1), at(hours=2))
    await sandbox.admin.set_scope([ROOM1, ROOM2])  # the app is not allowed into ROOM3
    snap = await store.read(WINDOW, full=True)
    assert snap.unreadable_rooms == {"MR-3"} and len(snap.bookings) == 1
    await sandbox.admin.set_scope(None)
    await sandbox.admin.inject(malformed=True, mailbox=ROOM2, path_contains="calendarView")
    snap = await store.read(WINDOW, full=True)
    assert snap.unreadable_rooms == {"MR-2"}
