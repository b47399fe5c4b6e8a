"""The store against an Exchange that reports only what changed, floats all-day dates and refuses stale writes:
partial delta updates, all-day bookings both ways, series exceptions written before the link, a room move, and
preconditions (issues 11 and 12)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from roomsync.connectors.base import BackendUnavailable, BookingRefused, PreconditionFailed
from roomsync.connectors.graph import GraphClient
from roomsync.connectors.graph.store import GraphStore
from roomsync.model import Booking, Link, Recurrence, Response, Status, changed_fields, fingerprint
from roomsync.model.fingerprint import field_digests
from roomsync.sandbox.graph import GraphSandbox

from .conftest import ROOM1, ROOM2, ROOM3, WINDOW, at, mailbox_requests
from .conftest import planon_booking as graph_planon_booking

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
ALICE = "alice@contoso.com"


def midnight(day: int, zone: ZoneInfo = AMSTERDAM) -> datetime:
    """Midnight ``day`` days after T0's date in ``zone``."""
    return datetime.combine(at(days=day).date(), time(), zone)


def planon_booking(**overrides: object) -> Booking:
    return graph_planon_booking("RES-7", **{"subject": "Weekly review", **overrides})


async def writes(sandbox: GraphSandbox, room: str, since: int = 0) -> list[tuple[str, str, int]]:
    """(method, operation, status) of the writes a room mailbox received, in order."""
    return [
        (e["method"], e["operation"], e["status"])
        for e in (await sandbox.admin.log(room))[since:]
        if e["method"] in ("POST", "PATCH", "DELETE")
    ]


# -- partial delta updates (11.4) -------------------------------------------------------------------------------------
async def test_partial_updates_are_merged_into_the_cached_meeting(
    sandbox: GraphSandbox, client: GraphClient, store: GraphStore
) -> None:
    await sandbox.admin.set_processing(ROOM1, add_organizer_to_subject=False, delete_subject=False)
    rule = {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"], "firstDayOfWeek": "monday"},
        "range": {"type": "numbered", "startDate": "2031-03-04", "numberOfOccurrences": 4},
    }
    series = await sandbox.admin.book_in_outlook(
        ALICE, [ROOM1], "Weekly", at(days=1, hours=1), at(days=1, hours=2), recurrence=rule
    )
    single = await sandbox.admin.book_in_outlook(ALICE, [ROOM1], "Single", at(days=2), at(days=2, hours=1))
    before = {b.id: b for b in (await store.read(WINDOW, full=True)).bookings}
    await sandbox.admin.edit(single, subject="Single (renamed)")
    await sandbox.admin.edit_occurrence(series, at(days=8, hours=1), start=at(days=8, hours=4), end=at(days=8, hours=5))
    spent = mailbox_requests(client)
    after = {b.id: b for b in (await store.read(WINDOW, full=False)).bookings}
    assert set(after) == set(before)  # no phantom booking from a bare entry
    assert after[single].subject == "Single (renamed)"
    assert (after[single].start, after[single].organizer) == (before[single].start, before[single].organizer)
    moved = after[series].recurrence
    assert moved is not None and [(o.start, o.end) for o in moved.overrides] == [
        (at(days=8, hours=4), at(days=8, hours=5))
    ]
    assert after[series].subject == "Weekly"
    # one delta per room, and the series master once (its occurrence changed): nothing fetched for the rename
    by_operation = client.requests.by_operation()
    assert mailbox_requests(client) - spent == 4 and by_operation[("events.get", "200")] == 2


async def test_a_series_leaving_the_window_leaves_the_snapshot_and_is_found_by_lookup(
    sandbox: GraphSandbox, store: GraphStore
) -> None:
    rule = {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"], "firstDayOfWeek": "monday"},
        "range": {"type": "numbered", "startDate": "2031-03-04", "numberOfOccurrences": 3},
    }
    uid = await sandbox.admin.book_in_outlook(
        ALICE, [ROOM1], "Weekly", at(days=1, hours=1), at(days=1, hours=2), recurrence=rule
    )
    assert [b.id for b in (await store.read(WINDOW, full=True)).bookings] == [uid]
    later = at(days=92, hours=1)  # Tuesday 3 June: the whole series leaves the 60-day window
    moved = {**rule, "range": {**rule["range"], "startDate": "2031-06-03"}}
    await sandbox.admin.edit(uid, start=later, end=at(days=92, hours=2), recurrence=moved)
    assert (await store.read(WINDOW, full=False)).bookings == ()  # its occurrences and master come back @removed
    found = await store.lookup([uid])
    assert found[uid].start == later and found[uid].recurrence is not None


async def test_a_bare_entry_for_an_item_not_held_is_read_whole_not_taken_for_a_booking(
    sandbox: GraphSandbox, client: GraphClient, store: GraphStore
) -> None:
    await sandbox.admin.set_processing(ROOM1, add_organizer_to_subject=False, delete_subject=False)
    uid = await sandbox.admin.book_in_outlook(ALICE, [ROOM1], "Held", at(days=2), at(days=2, hours=1))
    (before,) = (await store.read(WINDOW, full=True)).bookings
    state = client.mailbox_state(ROOM1)
    state.items.clear()  # as if the item had been missed: its next delta entry names only what changed
    await sandbox.admin.edit(uid, subject="Held (renamed)")
    gets = client.requests.by_room[("MR-1", "events.get", "200")]
    (after,) = (await store.read(WINDOW, full=False)).bookings
    assert client.requests.by_room[("MR-1", "events.get", "200")] == gets + 1  # fetched whole, with its link
    assert (after.id, after.subject, after.start, after.organizer) == (
        before.id,
        "Held (renamed)",
        before.start,
        before.organizer,
    )


# -- all-day (11.3) ---------------------------------------------------------------------------------------------------
async def test_all_day_dates_are_read_in_the_mailbox_zone(sandbox: GraphSandbox, client: GraphClient) -> None:
    from .conftest import store_of

    await sandbox.admin.set_time_zone(ROOM1, "W. Europe Standard Time")
    new_york = "America/New_York"
    # an organizer in New York books the Amsterdam room for all of Thursday (her Thursday)
    await sandbox.admin.book_in_outlook(
        "nora@customer.example", [ROOM1], "Visit", midnight(3, ZoneInfo(new_york)), midnight(4, ZoneInfo(new_york)),
        time_zone=new_york, all_day=True,
    )  # fmt: skip
    (visit,) = (await store_of(client).read(WINDOW, full=True)).bookings
    assert visit.all_day and visit.timezone == "Europe/Berlin"  # the room's zone, as its mailboxSettings say
    assert (visit.start, visit.end) == (midnight(3), midnight(4))  # Thursday, midnight to midnight in the room
    assert client.requests.by_room[("MR-1", "mailboxSettings", "200")] == 1
    await store_of(client).read(WINDOW, full=True)
    assert client.requests.by_room[("MR-1", "mailboxSettings", "200")] == 1  # asked once


async def test_all_day_dates_without_mailbox_settings_use_the_event_zone(
    sandbox: GraphSandbox, client: GraphClient, store: GraphStore
) -> None:
    await sandbox.admin.inject(403, mailbox=ROOM2, path_contains="mailboxSettings")  # no MailboxSettings.Read
    await sandbox.admin.book_in_outlook(
        ALICE, [ROOM2], "Offsite", midnight(2), midnight(3), time_zone="Europe/Amsterdam", all_day=True
    )
    (offsite,) = (await store.read(WINDOW, full=True)).bookings
    assert (offsite.start, offsite.end, offsite.timezone) == (midnight(2), midnight(3), "Europe/Amsterdam")


async def test_all_day_bookings_are_written_as_dates_and_read_back_equal(
    sandbox: GraphSandbox, store: GraphStore
) -> None:
    booking = planon_booking(start=midnight(2), end=midnight(4), all_day=True)
    await store.create(booking)
    (item,) = await sandbox.admin.room_events(ROOM1)
    assert item["timeZone"] == "Europe/Amsterdam"
    assert (item["start"], item["end"]) == ("2031-03-04T23:00:00.0000000Z", "2031-03-06T23:00:00.0000000Z")
    (read,) = (await store.read(WINDOW, full=False)).bookings
    assert read.all_day and changed_fields(read, booking) == []
    moved = replace(read, start=midnight(5), end=midnight(6), link=Link("RES-7", "fp2", seq=2))
    await store.update(read, moved, changed_fields(read, moved))
    (read,) = (await store.read(WINDOW, full=False)).bookings
    assert (read.start, read.end, read.all_day) == (midnight(5), midnight(6), True)


# -- series exceptions and the link (11.2) ----------------------------------------------------------------------------
async def test_a_cancelled_occurrence_is_written_before_the_link_that_vouches_for_it(
    sandbox: GraphSandbox, store: GraphStore
) -> None:
    booking = planon_booking(recurrence=Recurrence.parse("FREQ=WEEKLY;BYDAY=TU;COUNT=5"))
    await store.create(booking)
    (current,) = (await store.read(WINDOW, full=False)).bookings
    since = len(await sandbox.admin.log(ROOM1))
    rule = booking.recurrence
    assert rule is not None
    desired = replace(current, recurrence=rule.with_exceptions(exdates=[at(days=15)]), link=Link("RES-7", "fp2", 2))
    assert changed_fields(current, desired) == ["recurrence"]
    await store.update(current, desired, ["recurrence"])
    # exdates and no override: no crash; only the occurrence is deleted (the pattern is left alone), then the link
    assert await writes(sandbox, ROOM1, since) == [("DELETE", "events.delete", 204), ("PATCH", "events.update", 200)]
    (read,) = (await store.read(WINDOW, full=False)).bookings
    assert read.recurrence is not None and read.recurrence.exdates == {at(days=15)}
    assert read.link == Link("RES-7", "fp2", 2)


async def test_a_series_created_with_exceptions_is_vouched_for_only_as_far_as_it_got(
    sandbox: GraphSandbox, client: GraphClient, store: GraphStore
) -> None:
    rule = Recurrence.parse("FREQ=WEEKLY;BYDAY=TU;COUNT=5")
    booking = planon_booking(recurrence=rule.with_exceptions(exdates=[at(days=8)]))
    # the occurrence cannot be cancelled (Graph fails): the series stands, with a link for the series without it
    await sandbox.admin.inject(500, count=1, mailbox=ROOM1, method="DELETE")
    with pytest.raises(BackendUnavailable):
        await store.create(booking)
    (item,) = await sandbox.admin.room_events(ROOM1)
    pattern_only = replace(booking, recurrence=rule)
    expected = Link("RES-7", fingerprint(pattern_only), 1, field_digests(pattern_only))
    assert item["cancelledOccurrences"] == []
    assert item["extendedProperties"][client.settings.link_property_id] == expected.encode()
    # the retry (the next cycle's create) finds the same event, finishes the work, and only then writes the link
    await store.create(booking)
    (item,) = await sandbox.admin.room_events(ROOM1)
    assert item["cancelledOccurrences"] == ["2031-03-11T09:00:00.0000000Z"]
    assert item["extendedProperties"][client.settings.link_property_id] == "rs1;1;fp1;RES-7"
    assert await writes(sandbox, ROOM1) == [
        ("POST", "events.create", 201),
        ("DELETE", "events.delete", 500),
        ("POST", "events.create", 201),
        ("DELETE", "events.delete", 204),
        ("PATCH", "events.update", 200),
    ]


# -- a room move (11.5) -----------------------------------------------------------------------------------------------
async def test_the_organising_room_leaving_books_the_meeting_anew_once(
    sandbox: GraphSandbox, client: GraphClient, store: GraphStore
) -> None:
    await store.create(planon_booking())
    (current,) = (await store.read(WINDOW, full=False)).bookings
    desired = replace(current, rooms=frozenset({"MR-2"}), link=Link("RES-7", "fp2", seq=2))
    # the old meeting's cancel fails once: the update is retried (by the next cycle) and books nothing twice
    await sandbox.admin.inject(503, count=1, mailbox=ROOM1, path_contains="/cancel", retry_after="0.01")
    with pytest.raises(BackendUnavailable):
        await client.store(store.rooms, store.options).update(current, desired, ["rooms"])  # type: ignore[arg-type]
    await sandbox.admin.clear_faults()
    moved = await store.update(current, desired, ["rooms"])
    assert moved.id != current.id and moved.rooms == {"MR-2"} and moved.link == Link("RES-7", "fp2", seq=2)
    assert await sandbox.admin.room_events(ROOM1) == []
    (new,) = await sandbox.admin.room_events(ROOM2)
    assert new["iCalUId"] == moved.id and new["isOrganizer"]
    mail = [(m["kind"], m["iCalUId"]) for m in await sandbox.admin.mail() if m["to"] == "carol@contoso.com"]
    assert mail == [("invitation", current.id), ("invitation", moved.id), ("cancellation", current.id)]
    (read,) = (await store.read(WINDOW, full=False)).bookings
    assert read.id == moved.id and changed_fields(read, desired) == []


async def test_a_meeting_organised_in_outlook_still_refuses_an_added_room(
    sandbox: GraphSandbox, store: GraphStore
) -> None:
    await sandbox.admin.book_in_outlook(ALICE, [ROOM1], "Outlook", at(hours=1), at(hours=2))
    (current,) = (await store.read(WINDOW, full=True)).bookings
    desired = replace(current, rooms=frozenset({"MR-2"}))
    with pytest.raises(BookingRefused, match="the organizer must invite them"):
        await store.update(current, desired, ["rooms"])


# -- preconditions (issue 12) -----------------------------------------------------------------------------------------
async def test_a_person_editing_between_read_and_write_is_never_overwritten(
    sandbox: GraphSandbox, client: GraphClient, store: GraphStore
) -> None:
    created = await store.create(planon_booking())
    (current,) = (await store.read(WINDOW, full=False)).bookings
    # the room's delegate renames the meeting in Outlook the moment RoomSync's PATCH arrives
    await sandbox.admin.edit_before_next(created.id, mailbox=ROOM1, subject="Changed by the delegate")
    desired = replace(current, subject="Changed in Planon", link=Link("RES-7", "fp2", seq=2))
    with pytest.raises(PreconditionFailed):
        await store.update(current, desired, ["subject"])
    (item,) = await sandbox.admin.room_events(ROOM1)
    assert item["subject"] == "Changed by the delegate"  # nothing overwritten
    assert client.requests.by_room[("MR-1", "events.update", "412")] == 1
    for stale_write in (
        store.relink(current, Link("RES-7", "fp2", seq=2)),
        store.cancel(current, "no longer needed"),
    ):
        with pytest.raises(PreconditionFailed):
            await stale_write
    (fresh,) = (await store.read(WINDOW, full=False)).bookings
    assert fresh.subject == "Changed by the delegate"
    await store.update(fresh, replace(fresh, subject="Changed in Planon"), ["subject"])  # re-planned: it lands
    assert (await sandbox.admin.room_events(ROOM1))[0]["subject"] == "Changed in Planon"


async def test_a_stale_answer_to_a_request_and_a_409_are_preconditions_too(
    sandbox: GraphSandbox, client: GraphClient, store: GraphStore
) -> None:
    uid = await sandbox.admin.book_in_outlook(ALICE, [ROOM3], "Pending", at(hours=1), at(hours=2))
    (pending,) = (await store.read(WINDOW, full=True)).bookings
    await sandbox.admin.edit(uid, start=at(hours=3), end=at(hours=4))
    with pytest.raises(PreconditionFailed):
        await store.respond(pending, Response.ACCEPT, "Reserved in Planon.")
    (pending,) = (await store.read(WINDOW, full=False)).bookings
    assert pending.start == at(hours=3) and pending.status is Status.TENTATIVE
    # Graph documents no status for a stale If-Match on events: 409 is read as one as well
    await sandbox.admin.inject(409, mailbox=ROOM3, method="POST", path_contains="/accept")
    with pytest.raises(PreconditionFailed):
        await store.respond(pending, Response.ACCEPT, "Reserved in Planon.")
    await store.respond(pending, Response.ACCEPT, "Reserved in Planon.")
    assert (await sandbox.admin.room_events(ROOM3))[0]["response"] == "accepted"
