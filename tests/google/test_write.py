"""Writing through the real client library: idempotent creates with client-supplied ids, PATCH with If-Match,
the room's answer when Planon leads, room changes, cancel, and the extended-property limits."""

from __future__ import annotations

from dataclasses import replace

import pytest

from roomsync.connectors.base import BookingRefused, PreconditionFailed, Response
from roomsync.connectors.google import GoogleClient
from roomsync.connectors.google.store import GoogleStore, event_id
from roomsync.model import Booking, Link, Person, Recurrence, Status, changed_fields, people
from roomsync.sandbox.google import GoogleSandbox

from .conftest import CAROL, DAVE, ROOM1, ROOM2, ROOM3, WINDOW, at


def planon_booking(**overrides: object) -> Booking:
    base = Booking(
        id="RES-1",
        subject="Board meeting",
        start=at(1),
        end=at(1, 1),
        timezone="Europe/Amsterdam",
        organizer=Person(CAROL, "Carol"),
        required=people([DAVE]),
        rooms=frozenset({"MR-1"}),
        link=Link("RES-1", "fp1"),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


async def test_create_is_one_insert_into_the_room_calendar_and_reads_back_equal(
    sandbox: GoogleSandbox, client: GoogleClient, store: GoogleStore
) -> None:
    booking = planon_booking(rooms=frozenset({"MR-1", "MR-2"}))
    created = await store.create(booking)
    assert client.requests.by_room[(ROOM1, "events.insert", "200")] == 1
    (event,) = await sandbox.admin.events(ROOM1)
    assert event["id"] == event_id("default/rooms", "RES-1", 1) and event["organizer"]["email"] == ROOM1
    assert event["extendedProperties"]["private"]["roomsyncLink"] == Link("RES-1", "fp1").encode()
    # OrganizerOnly: the requestor is invited (it reaches her calendar); the other room is invited as a resource
    assert {(a["email"], a.get("resource", False)) for a in event["attendees"]} == {(ROOM2, True), (CAROL, False)}
    (read,) = (await store.read(WINDOW, full=True)).bookings
    assert read.id == created.id and read.rooms == {"MR-1", "MR-2"} and changed_fields(read, booking) == []


async def test_a_retried_insert_after_a_lost_answer_returns_the_first_event(
    sandbox: GoogleSandbox, client: GoogleClient, store: GoogleStore
) -> None:
    await sandbox.admin.inject(after=True, method="POST", path_contains="/events")  # made, answer lost
    created = await store.create(planon_booking())
    assert len(await sandbox.admin.events(ROOM1)) == 1
    ops = client.requests.by_operation()
    assert (
        ops[("events.insert", "error")] == 1 and ops[("events.insert", "409")] == 1 and ops[("events.get", "200")] == 1
    )
    again = await store.create(planon_booking())  # a later retry of the same create: still one event
    assert again.id == created.id and len(await sandbox.admin.events(ROOM1)) == 1
    recreated = await store.create(planon_booking(link=Link("RES-1", "fp1", 2)))  # a deliberate re-create
    assert recreated.id != created.id


async def test_a_person_editing_between_read_and_write_is_never_overwritten(
    sandbox: GoogleSandbox, store: GoogleStore
) -> None:
    created = await store.create(planon_booking())
    (read,) = (await store.read(WINDOW, full=True)).bookings
    await sandbox.admin.edit(created.id, subject="Renamed by the room's manager")  # the organizer's copy: room 1
    desired = replace(read, start=at(1, 2), end=at(1, 3), link=Link("RES-1", "fp2", 2))
    with pytest.raises(PreconditionFailed, match="412 conditionNotMet"):
        await store.update(read, desired, ["start", "end"])
    (event,) = await sandbox.admin.events(ROOM1)
    assert event["summary"] == "Renamed by the room's manager" and event["start"]["dateTime"].startswith(
        "2031-03-04T10:00"
    )
    (fresh,) = (await store.read(WINDOW, full=False)).bookings
    await store.update(
        fresh, replace(fresh, start=at(1, 2), end=at(1, 3), link=Link("RES-1", "fp2", 2)), ["start", "end"]
    )
    (moved,) = (await store.read(WINDOW, full=False)).bookings
    assert (moved.start, moved.subject, moved.link) == (
        at(1, 2),
        "Renamed by the room's manager",
        Link("RES-1", "fp2", 2),
    )


@pytest.mark.parametrize("propagates", [True, False])
async def test_when_planon_leads_the_room_answers_on_its_copy_with_the_reason(
    sandbox: GoogleSandbox, store: GoogleStore, propagates: bool
) -> None:
    await sandbox.admin.settings(responsePropagates=propagates)
    uid = await sandbox.admin.book(CAROL, [ROOM3], "Quarterly results", at(1), at(1, 1))
    (request,) = (await store.read(WINDOW, full=True)).bookings
    assert request.awaiting_response and request.status is Status.TENTATIVE
    await store.respond(request, Response.DECLINE, "Declined by Planon: AMS-L1 is not available")
    (copy,) = await sandbox.admin.events(ROOM3)
    [room] = [a for a in copy["attendees"] if a["email"] == ROOM3]
    assert (room["responseStatus"], room["comment"]) == ("declined", "Declined by Planon: AMS-L1 is not available")
    organizer_view = [a for e in await sandbox.admin.events(CAROL) for a in e["attendees"] if a["email"] == ROOM3]
    assert [a["responseStatus"] for a in organizer_view] == (["declined"] if propagates else ["needsAction"])
    (declined,) = (await store.read(WINDOW, full=False)).bookings  # read from the room's own copy either way
    assert declined.id == uid and declined.status is Status.CANCELLED and not declined.awaiting_response


async def test_rooms_change_by_patching_attendees_and_the_organizing_room_can_leave(
    sandbox: GoogleSandbox, client: GoogleClient, store: GoogleStore
) -> None:
    created = await store.create(planon_booking())
    (read,) = (await store.read(WINDOW, full=True)).bookings
    await store.update(read, replace(read, rooms=frozenset({"MR-1", "MR-2"})), ["rooms"])
    (two,) = (await store.read(WINDOW, full=False)).bookings
    assert two.rooms == {"MR-1", "MR-2"} and client.requests.by_room[(ROOM1, "events.patch", "200")] == 1
    await store.update(two, replace(two, rooms=frozenset({"MR-2"})), ["rooms"])  # room 1 organises: it moves
    (moved,) = (await store.read(WINDOW, full=False)).bookings
    assert moved.id == created.id and moved.rooms == {"MR-2"}
    [event] = [e for e in await sandbox.admin.events(ROOM2) if e["status"] != "cancelled"]
    assert event["organizer"]["email"] == ROOM2 and ROOM1 not in {a["email"] for a in event.get("attendees", [])}
    assert moved.link == created.link and moved.organizer == Person(CAROL)
    await store.cancel(moved, "Cancelled in Planon")
    (cancelled,) = (await store.read(WINDOW, full=False)).bookings
    assert cancelled.status is Status.CANCELLED


async def test_a_series_with_exceptions_is_one_insert_and_one_patch_per_moved_occurrence(
    client: GoogleClient, store: GoogleStore
) -> None:
    rule = Recurrence.parse("FREQ=WEEKLY;COUNT=5")
    from roomsync.model import OccurrenceOverride

    series = planon_booking(
        rooms=frozenset({"MR-2"}),
        recurrence=rule.with_exceptions([at(15)], [OccurrenceOverride(at(8), at(8, 4), at(8, 5))]),
    )
    await store.create(series)
    (read,) = (await store.read(WINDOW, full=True)).bookings
    assert changed_fields(read, series, WINDOW) == []
    writes = {k: v for k, v in client.requests.by_operation().items() if k[0] in ("events.insert", "events.patch")}
    assert writes == {("events.insert", "200"): 1, ("events.patch", "200"): 1}


async def test_extended_property_limits_are_checked_before_writing(sandbox: GoogleSandbox, store: GoogleStore) -> None:
    with pytest.raises(BookingRefused, match="Google keeps 1024"):
        await store.create(planon_booking(link=Link("X" * 1100, "fp1")))
    assert await sandbox.admin.events(ROOM1) == []
    crowd = people([f"person{i:04d}@contoso.example" for i in range(150)])  # ~5,000 characters of people
    created = await store.create(planon_booking(required=crowd))
    private = (await sandbox.admin.events(ROOM1))[0]["extendedProperties"]["private"]
    assert len([k for k in private if k.startswith("roomsyncPeople")]) > 4 and max(map(len, private.values())) <= 1024
    (read,) = (await store.read(WINDOW, full=True)).bookings
    assert read.id == created.id and read.required == crowd  # nothing lost to Google's silent cut
    with pytest.raises(BookingRefused, match="does not fit"):
        await store.create(
            planon_booking(
                id="RES-2", link=Link("RES-2", "fp"), required=people([f"p{i:05d}@x.example" for i in range(2000)])
            )
        )


async def test_foreign_meetings_keep_their_content_but_can_lose_a_room(
    sandbox: GoogleSandbox, store: GoogleStore
) -> None:
    await sandbox.admin.book(CAROL, [ROOM1, ROOM2], "Carol's meeting", at(2), at(2, 1))
    (read,) = (await store.read(WINDOW, full=True)).bookings
    with pytest.raises(BookingRefused, match="can only be changed by its organizer"):
        await store.update(read, replace(read, subject="Renamed in Planon"), ["subject"])
    await store.update(read, replace(read, rooms=frozenset({"MR-1"}), link=Link("RES-9", "fp", 2)), ["rooms"])
    (after,) = (await store.read(WINDOW, full=False)).bookings
    assert after.rooms == {"MR-1"} and after.link == Link("RES-9", "fp", 2) and after.subject == "Carol's meeting"
