"""Writing through the real SDK: create (single, multi-room, recurring), idempotency, PATCH, cancel, respond, relink."""

from __future__ import annotations

from dataclasses import replace

import pytest

from roomsync.connectors.base import BookingRefused, Response
from roomsync.connectors.graph import GraphClient
from roomsync.connectors.graph.store import GraphStore, transaction_id
from roomsync.model import Link, OccurrenceOverride, Recurrence, Status, changed_fields
from roomsync.sandbox.graph import GraphSandbox

from .conftest import ROOM1, ROOM2, ROOM3, WINDOW, ClientFactory, at, planon_booking, store_of


async def test_create_single_and_read_back_equal(sandbox: GraphSandbox, store: GraphStore) -> None:
    booking = planon_booking()
    created = await store.create(booking)
    assert created.handle.items.keys() == {"MR-1"} and created.id == created.ical_uid
    (read,) = (await store.read(WINDOW, full=False)).bookings
    assert read.id == created.id
    assert changed_fields(read, booking) == []  # what a person sees round-trips exactly
    assert read.link == Link("RES-1", "fp1")
    (item,) = await sandbox.admin.room_events(ROOM1)
    assert item["isOrganizer"] and item["transactionId"] == transaction_id("default/rooms", "RES-1", 1)
    # OrganizerOnly: the organizer is invited (so it reaches her Outlook); nobody else gets mail
    assert [(m["kind"], m["to"]) for m in await sandbox.admin.mail()] == [("invitation", "carol@contoso.com")]


async def test_multi_room_booking_is_one_meeting_reaching_every_room(sandbox: GraphSandbox, store: GraphStore) -> None:
    booking = planon_booking(rooms=frozenset({"MR-1", "MR-2", "MR-3"}))
    created = await store.create(booking)
    uid = created.id
    items = {room: await sandbox.admin.room_events(room) for room in (ROOM1, ROOM2, ROOM3)}
    assert all(len(v) == 1 and v[0]["iCalUId"] == uid for v in items.values())
    assert items[ROOM1][0]["isOrganizer"]
    assert items[ROOM2][0]["response"] == "accepted"  # AutoAccept
    assert items[ROOM3][0]["response"] == "notResponded"  # AutoUpdate: Planon (in the lead) decides
    (read,) = (await store.read(WINDOW, full=True)).bookings
    assert read.rooms == {"MR-1", "MR-2", "MR-3"} and read.awaiting_response
    assert changed_fields(read, booking) == []
    await store.respond(read, Response.ACCEPT, "Reserved in Planon")
    (read,) = (await store.read(WINDOW, full=False)).bookings
    assert not read.awaiting_response and read.status is Status.CONFIRMED
    organizer_item = (await sandbox.admin.room_events(ROOM1))[0]
    assert {a["address"]: a["response"] for a in organizer_item["attendees"] if a["type"] == "resource"} == {
        ROOM2: "accepted",
        ROOM3: "accepted",
    }


@pytest.mark.parametrize("batch_size", [1, 20])
async def test_retried_post_never_duplicates(
    sandbox: GraphSandbox, make_client: ClientFactory, batch_size: int
) -> None:
    # The first POST is executed but its answer is lost (connection reset): the transport repeats it (it carries a
    # transactionId; in a $batch, every request of the batch does) and Graph answers with the event it already made.
    client = make_client(maxAttempts=4, batchSize=batch_size)
    store = store_of(client)
    await sandbox.admin.inject(reset=True, after=True, method="POST", path_contains="/events")
    created = await store.create(planon_booking())
    assert len(await sandbox.admin.room_events(ROOM1)) == 1
    reset = ("MR-1", "events.create", "reset") if batch_size == 1 else ("", "$batch", "reset")
    assert client.requests.by_room[reset] == 1
    assert client.requests.by_room[("MR-1", "events.create", "201")] == 1
    # the engine retrying the whole create after a crash is just as harmless
    again = await store_of(client).create(planon_booking())
    assert again.id == created.id and len(await sandbox.admin.room_events(ROOM1)) == 1


async def test_update_patches_only_changed_fields_and_relink_sends_nothing(
    sandbox: GraphSandbox, client: GraphClient, store: GraphStore
) -> None:
    created = await store.create(planon_booking())
    (current,) = (await store.read(WINDOW, full=False)).bookings
    desired = replace(
        current,
        subject="Board meeting (moved)",
        start=at(days=2),
        end=at(days=2, hours=1),
        link=Link("RES-1", "fp2", seq=2),
    )
    fields = changed_fields(current, desired)
    assert fields == ["subject", "start", "end"]
    await store.update(current, desired, fields)
    patches = [e for e in await sandbox.admin.log(ROOM1) if e["method"] == "PATCH"]
    assert [p["keys"] for p in patches] == [["end", "isAllDay", "singleValueExtendedProperties", "start", "subject"]]
    mail_before = len(await sandbox.admin.mail())
    (current,) = (await store.read(WINDOW, full=False)).bookings
    assert current.subject == "Board meeting (moved)" and current.link == Link("RES-1", "fp2", seq=2)
    assert current.id == created.id
    await store.relink(current, Link("RES-1", "fp2", seq=3))
    assert len(await sandbox.admin.mail()) == mail_before  # nothing a person sees changed: no mail
    (current,) = (await store.read(WINDOW, full=True)).bookings
    assert current.link == Link("RES-1", "fp2", seq=3)


async def test_update_rooms_of_a_planon_meeting(sandbox: GraphSandbox, store: GraphStore) -> None:
    await store.create(planon_booking(rooms=frozenset({"MR-1", "MR-2"})))
    (current,) = (await store.read(WINDOW, full=True)).bookings
    desired = replace(current, rooms=frozenset({"MR-1", "MR-3"}))
    await store.update(current, desired, changed_fields(current, desired))
    assert (await sandbox.admin.room_events(ROOM2))[0]["isCancelled"]
    (current,) = (await store.read(WINDOW, full=False)).bookings
    assert current.rooms == {"MR-1", "MR-3"}


async def test_cancel_planon_meeting_and_decline_outlook_meeting(sandbox: GraphSandbox, store: GraphStore) -> None:
    await store.create(planon_booking(rooms=frozenset({"MR-1", "MR-2"})))
    outlook = await sandbox.admin.book_in_outlook("alice@contoso.com", [ROOM2], "Outlook", at(hours=5), at(hours=6))
    bookings = {b.id: b for b in (await store.read(WINDOW, full=True)).bookings}
    planon = next(b for b in bookings.values() if b.id != outlook)
    await store.cancel(planon, "Cancelled in Planon")
    await store.cancel(bookings[outlook], "Room not available")
    assert await sandbox.admin.room_events(ROOM1) == []  # the organizer's item is gone
    (copy,) = await sandbox.admin.room_events(ROOM2)  # Outlook meeting declined (gone); ours cancelled
    assert copy["iCalUId"] == planon.id and copy["isCancelled"]
    mail = await sandbox.admin.mail()
    assert {"kind": "declined", "to": "alice@contoso.com", "comment": "Room not available"}.items() <= next(
        m for m in mail if m["kind"] == "declined"
    ).items()
    snap = await store.read(WINDOW, full=False)
    assert [(b.id, b.status) for b in snap.bookings] == [(planon.id, Status.CANCELLED)]


async def test_respond_decline_and_tentative(sandbox: GraphSandbox, store: GraphStore) -> None:
    first = await sandbox.admin.book_in_outlook("alice@contoso.com", [ROOM3], "A", at(hours=1), at(hours=2))
    second = await sandbox.admin.book_in_outlook("bob@contoso.com", [ROOM3], "B", at(hours=3), at(hours=4))
    bookings = {b.id: b for b in (await store.read(WINDOW, full=True)).bookings}
    await store.respond(bookings[first], Response.DECLINE, "Room taken in Planon")
    await store.respond(bookings[second], Response.TENTATIVE, "Waiting for catering")
    items = {i["iCalUId"]: i for i in await sandbox.admin.room_events(ROOM3)}
    assert first not in items and items[second]["response"] == "tentativelyAccepted"
    snap = await store.read(WINDOW, full=False)
    assert [b.id for b in snap.bookings] == [second]


async def test_recurring_planon_booking_with_exceptions(sandbox: GraphSandbox, store: GraphStore) -> None:
    rule = Recurrence.parse("FREQ=WEEKLY;BYDAY=TU;COUNT=5").with_exceptions(
        exdates=[at(days=8)], overrides=[OccurrenceOverride(at(days=15), at(days=15, hours=2), at(days=15, hours=3))]
    )
    booking = planon_booking(recurrence=rule)  # T0+1 day is a Tuesday
    await store.create(booking)
    (item,) = await sandbox.admin.room_events(ROOM1)
    assert item["recurrence"]["pattern"]["daysOfWeek"] == ["tuesday"]
    assert item["cancelledOccurrences"] == ["2031-03-11T09:00:00.0000000Z"]
    assert list(item["exceptions"]) == ["2031-03-18T09:00:00.0000000Z"]
    (read,) = (await store.read(WINDOW, full=False)).bookings
    assert changed_fields(read, booking, WINDOW) == []


async def test_unexpressible_recurrence_is_refused(store: GraphStore) -> None:
    with pytest.raises(BookingRefused):
        await store.create(planon_booking(recurrence=Recurrence.parse("FREQ=MONTHLY;BYMONTHDAY=1,15")))


async def test_invitations_none_keeps_people_out_of_the_mailboxes(sandbox: GraphSandbox, client: GraphClient) -> None:
    quiet = store_of(client, invitations="None")
    booking = planon_booking(rooms=frozenset({"MR-1", "MR-2"}))
    await quiet.create(booking)
    invited = {m["to"] for m in await sandbox.admin.mail() if m["kind"] == "invitation"}
    assert invited == {ROOM2}  # only the other room is invited, no person hears of it
    (read,) = (await quiet.read(WINDOW, full=True)).bookings
    assert changed_fields(read, booking) == []  # people still round-trip through the extended property
