"""Writing room calendars: idempotent creates, If-Match updates, occurrences, room changes, answers, cancellations."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import icalendar
import pytest

from roomsync.connectors.base import PreconditionFailed
from roomsync.connectors.caldav.linkprop import LINK_PROPERTY, decode_link
from roomsync.connectors.caldav.store import derived_uid
from roomsync.model import Booking, Link, OccurrenceOverride, Person, Recurrence, Response, Side, Status, people
from roomsync.sandbox.caldav.people import address
from tests.caldav.conftest import ANNA, BEN, CARLA, R1, R2, R3, WINDOW, Rig, at, counts

LINK = Link("PLN-1042", "0123456789abcdef", 1)


def planon_booking(**changes: object) -> Booking:
    booking = Booking(
        id="PLN-1042",
        subject="Customer workshop",
        start=at(3, 1),
        end=at(3, 2),
        timezone="Europe/Amsterdam",
        organizer=Person(CARLA, "Carla Jansen"),
        required=people([BEN]),
        optional=people([ANNA]),
        rooms=frozenset({"MR-1", "MR-2"}),
        link=LINK,
    )
    return replace(booking, **changes)  # type: ignore[arg-type]


def instances(rig: Rig, room: str) -> list[tuple[str, datetime, datetime]]:
    """(summary, start, end) of every occurrence as Radicale itself expands the room calendar."""
    found = []
    for _, instance in rig.people.expanded(room, WINDOW.start, WINDOW.end):
        found.append((str(instance["SUMMARY"]), instance["DTSTART"].dt, instance["DTEND"].dt))
    return sorted(found, key=lambda item: item[1])


def attendees(event: icalendar.Event) -> dict[str, dict[str, str]]:
    values = event.get("ATTENDEE")
    return {address(v): dict(v.params) for v in (values if isinstance(values, list) else [values] if values else [])}


async def test_create_writes_one_copy_per_room_as_a_calendar_client_would(rig: Rig) -> None:
    client = rig.client()
    made = await rig.store(client).create(planon_booking())
    assert made.id == derived_uid("tests/caldav", "PLN-1042", 1) and made.ical_uid == made.id
    assert made.handle is not None and set(made.handle.items) == {"MR-1", "MR-2"}
    copies = rig.people.copies(made.id)
    assert [c.room for c in copies] == [R1, R2]
    for copy in copies:
        event = copy.master
        assert copy.url.endswith(f"{made.id}.ics")
        assert made.handle.version(made.handle.ids("MR-1" if copy.room == R1 else "MR-2")[0]) == copy.etag
        organizer = event["ORGANIZER"]
        assert (address(organizer), organizer.params["CN"], organizer.params["SCHEDULE-AGENT"]) == (
            CARLA,
            "Carla Jansen",
            "CLIENT",  # a scheduling server sends no invitation for RoomSync's writes
        )
        found = attendees(event)
        assert found[BEN]["ROLE"] == "REQ-PARTICIPANT" and found[ANNA]["ROLE"] == "OPT-PARTICIPANT"
        for room in (R1, R2):
            assert (found[room]["CUTYPE"], found[room]["PARTSTAT"]) == ("ROOM", "ACCEPTED")  # Planon reserved it
        assert decode_link(event[LINK_PROPERTY]) == LINK
        assert event["DTSTART"].params["TZID"] == "Europe/Amsterdam"
    assert counts(client) == {"PUT 201": 2}  # one write per room, nothing else


async def test_a_retried_create_never_duplicates(rig: Rig) -> None:
    booking = planon_booking()
    first = await rig.store().create(booking)
    # the first attempt died after writing MR-1 only: its MR-2 copy is missing
    [_, in_mr2] = rig.people.copies(first.id)
    rig.people.delete(in_mr2, login="delegate")
    client = rig.client()  # a restarted process: nothing in memory
    again = await rig.store(client).create(booking)
    assert again.id == first.id
    assert [c.room for c in rig.people.copies(first.id)] == [R1, R2]
    assert len(rig.people.resources(R1)) == len(rig.people.resources(R2)) == 1
    assert counts(client) == {"PUT 412": 1, "GET 200": 1, "PUT 201": 1}  # MR-1 found as its own, MR-2 written

    recreated = await rig.store().create(replace(booking, link=replace(LINK, seq=2)))  # deliberate, after a delete
    assert recreated.id != first.id and len(rig.people.resources(R1)) == 2


async def test_a_create_whose_uid_exists_under_another_name_takes_that_copy(rig: Rig) -> None:
    booking = planon_booking(rooms=frozenset({"MR-1"}))
    uid = derived_uid("tests/caldav", "PLN-1042", 1)
    calendar = rig.people.event(uid, CARLA, [R1], "Customer workshop", at(3, 1), at(3, 2), room_answer="ACCEPTED")
    rig.people.put(f"{rig.calendars[R1]}renamed-by-a-migration.ics", calendar, login="delegate")
    client = rig.client()
    made = await rig.store(client).create(booking)
    assert (
        made.id == uid and made.handle is not None and made.handle.ids("MR-1")[0].endswith("renamed-by-a-migration.ics")
    )
    assert len(rig.people.resources(R1)) == 1
    assert counts(client) == {"PUT 409": 1, "REPORT calendar-query 207": 1}  # CALDAV:no-uid-conflict, then found


async def test_an_update_sends_if_match_and_a_concurrent_edit_is_never_overwritten(rig: Rig) -> None:
    uid = rig.people.book(BEN, [R1], "Retro", at(1), at(1, 1), required=[ANNA])
    client = rig.client()
    store = rig.store(client)
    [current] = (await store.read(WINDOW, full=True)).bookings
    rig.people.edit(uid, subject="Retro (renamed by Ben after RoomSync read it)")
    with pytest.raises(PreconditionFailed, match="412"):
        await store.update(current, replace(current, subject="Retro from Planon"), ["subject"])
    [copy] = rig.people.copies(uid)
    assert str(copy.master["SUMMARY"]) == "Retro (renamed by Ben after RoomSync read it)"
    assert counts(client, R1).get("PUT 412") == 1 and "PUT 204" not in counts(client, R1)

    [fresh] = (await store.read(WINDOW, full=False)).bookings  # the engine reads again and plans again
    written = await store.update(fresh, replace(fresh, subject="Retro from Planon"), ["subject"])
    assert written.id == uid and str(rig.people.copies(uid)[0].master["SUMMARY"]) == "Retro from Planon"


async def test_an_update_changes_only_what_changed(rig: Rig) -> None:
    uid = rig.people.book(BEN, [R1], "Planning", at(1), at(1, 1), required=[ANNA])
    [copy] = rig.people.copies(uid)
    copy.master.add("DESCRIPTION", "Agenda: a, b; c")
    copy.master.add("X-CLIENT-COLOUR", "teal")
    alarm = icalendar.Alarm()
    alarm.add("ACTION", "DISPLAY")
    alarm.add("TRIGGER", icalendar.vDuration.from_ical("-PT15M"))
    copy.master.add_component(alarm)
    rig.people.put(copy.url, copy.calendar, login="ben", etag=copy.etag)
    store = rig.store()
    [current] = (await store.read(WINDOW, full=True)).bookings
    await store.update(current, replace(current, subject="Planning (renamed)", link=LINK), ["subject"])
    [copy] = rig.people.copies(uid)
    event = copy.master
    assert str(event["SUMMARY"]) == "Planning (renamed)" and decode_link(event[LINK_PROPERTY]) == LINK
    assert str(event["DESCRIPTION"]) == "Agenda: a, b; c" and str(event["X-CLIENT-COLOUR"]) == "teal"
    assert event.walk("VALARM") and int(event["SEQUENCE"]) == 0  # a new subject is no reschedule

    [current] = (await store.read(WINDOW, full=False)).bookings
    await store.update(current, replace(current, start=at(1, 2), end=at(1, 3)), ["start", "end"])
    [copy] = rig.people.copies(uid)
    assert int(copy.master["SEQUENCE"]) == 1 and instances(rig, R1)[0][1] == at(1, 2)


async def test_cancelling_one_occurrence_keeps_the_series(rig: Rig) -> None:
    """The caldav library's ``delete()`` on an expanded occurrence would delete the whole series: an occurrence is
    cancelled by an EXDATE in the series resource, one PUT, never a DELETE."""
    series = planon_booking(recurrence=Recurrence.parse("FREQ=WEEKLY;COUNT=4"), rooms=frozenset({"MR-1"}))
    client = rig.client()
    store = rig.store(client)
    await store.create(series)
    [current] = (await store.read(WINDOW, full=True)).bookings
    assert current.recurrence is not None
    third = at(17, 1)
    moved = OccurrenceOverride(at(10, 1), at(10, 4), at(10, 5), "Workshop (moved)")
    desired = replace(current, recurrence=current.recurrence.with_exceptions([third], [moved]))
    client.requests.by_room.clear()
    await store.update(current, desired, ["recurrence"])
    assert counts(client) == {"PUT 204": 1}
    assert instances(rig, R1) == [
        ("Customer workshop", at(3, 1), at(3, 2)),
        ("Workshop (moved)", at(10, 4), at(10, 5)),
        ("Customer workshop", at(24, 1), at(24, 2)),
    ]
    assert len(rig.people.resources(R1)) == 1
    [again] = (await store.read(WINDOW, full=False)).bookings
    assert again.recurrence == desired.recurrence


async def test_exceptions_outside_the_window_are_kept(rig: Rig) -> None:
    series = planon_booking(recurrence=Recurrence.parse("FREQ=WEEKLY;COUNT=12"), rooms=frozenset({"MR-1"}))
    store = rig.store()
    made = await store.create(series)
    beyond = at(73, 0)  # after the window's end (11:00 in Amsterdam is 09:00 UTC in summer)
    inside = at(17, 1)
    rig.people.cancel_occurrence(made.id, beyond)  # someone cancelled one far away
    [current] = (await store.read(WINDOW, full=True)).bookings
    planon_view = replace(current, recurrence=current.recurrence.with_exceptions([inside]))  # type: ignore[union-attr]
    await store.update(current, planon_view, ["recurrence"])  # Planon only knows the window
    found = await store.lookup([current.id])
    recurrence = found[current.id].recurrence
    assert recurrence is not None and recurrence.exdates == {beyond, inside}


async def test_a_room_change_moves_the_copy_new_room_first(rig: Rig) -> None:
    client = rig.client()
    store = rig.store(client)
    made = await store.create(planon_booking(rooms=frozenset({"MR-1"})))
    [current] = (await store.read(WINDOW, full=True)).bookings
    order: list[str] = []
    original = client.requests.add

    def record(room: str, operation: str, status: str | int, count: int = 1) -> None:
        order.append(f"{operation} {status} {room}")
        original(room, operation, status, count)

    client.requests.add = record  # type: ignore[method-assign]
    moved = await store.update(current, replace(current, rooms=frozenset({"MR-2"})), ["rooms"])
    assert order == [f"PUT 201 {R2}", f"DELETE 200 {R1}"]  # the new room's copy first, with the link
    assert moved.id == made.id and moved.handle is not None and set(moved.handle.items) == {"MR-2"}
    assert rig.people.resources(R1) == [] and [c.room for c in rig.people.copies(made.id)] == [R2]
    copy = rig.people.copies(made.id)[0].master
    assert decode_link(copy[LINK_PROPERTY]) == LINK and set(attendees(copy)) == {BEN, ANNA, R2}


async def test_a_room_leaving_a_persons_meeting_declines_it(rig: Rig) -> None:
    uid = rig.people.book(BEN, [R1, R2], "Two rooms", at(1), at(1, 1))
    store = rig.store()
    [current] = (await store.read(WINDOW, full=True)).bookings
    await store.update(current, replace(current, rooms=frozenset({"MR-1"})), ["rooms"])
    left = {c.room: c for c in rig.people.copies(uid)}
    assert attendees(left[R2].master)[R2]["PARTSTAT"] == "DECLINED"
    assert str(left[R2].master["TRANSP"]) == "TRANSPARENT"  # the room is free again
    [after] = (await store.read(WINDOW, full=False)).bookings
    assert after.rooms == {"MR-1"}


async def test_the_rooms_answer_is_its_partstat_with_the_comment(rig: Rig) -> None:
    accept = rig.people.book(BEN, [R1], "Accept me", at(1), at(1, 1))
    decline = rig.people.book(BEN, [R2], "Decline me", at(2), at(2, 1))
    direct = rig.people.event("direct-1", BEN, [], "Written straight into the room calendar", at(3), at(3, 1))
    rig.people.put(f"{rig.calendars[R3]}direct-1.ics", direct, login="ben")
    store = rig.store(leader=Side.PLANON)
    requests = {b.id: b for b in (await store.read(WINDOW, full=True)).bookings}
    assert all(b.awaiting_response for b in requests.values())  # no room answered yet
    comment = 'Declined by Planon: MR-2 is not available: already reserved 11:00-12:00, "Board"; sorry\nBye'
    await store.respond(requests[accept], Response.ACCEPT, "Reserved in Planon.")
    await store.respond(requests[decline], Response.DECLINE, comment)
    await store.respond(requests["direct-1"], Response.ACCEPT, "")
    assert attendees(rig.people.copies(accept)[0].master)[R1] | {} == {
        "CUTYPE": "ROOM",
        "ROLE": "NON-PARTICIPANT",
        "PARTSTAT": "ACCEPTED",
        "RSVP": "FALSE",
        "X-RESPONSE-COMMENT": "Reserved in Planon.",
    }
    declined = attendees(rig.people.copies(decline)[0].master)[R2]
    assert declined["PARTSTAT"] == "DECLINED"
    assert (
        declined["X-RESPONSE-COMMENT"]
        == "Declined by Planon: MR-2 is not available: already reserved 11:00-12:00, 'Board'; sorry Bye"
    )
    assert attendees(rig.people.copies("direct-1")[0].master)[R3]["PARTSTAT"] == "ACCEPTED"  # the room was added
    after = {b.id: b for b in (await store.read(WINDOW, full=False)).bookings}
    assert not after[accept].awaiting_response and after[accept].status is Status.CONFIRMED
    assert after[decline].status is Status.CANCELLED  # the room holds it no more
    assert not after["direct-1"].awaiting_response


async def test_cancel_deletes_roomsyncs_meeting_and_declines_a_persons(rig: Rig) -> None:
    client = rig.client()
    store = rig.store(client)
    made = await store.create(planon_booking())
    persons = rig.people.book(BEN, [R3], "Ben's meeting", at(2), at(2, 1))
    bookings = {b.id: b for b in (await store.read(WINDOW, full=True)).bookings}
    client.requests.by_room.clear()
    await store.cancel(bookings[made.id], "cancelled in Planon")
    await store.cancel(bookings[persons], "cancelled in Planon")
    assert rig.people.copies(made.id) == []
    assert counts(client) == {"DELETE 200": 2, "PUT 204": 1}  # If-Match on each; the person's copy is declined
    [kept] = rig.people.copies(persons)
    assert attendees(kept.master)[R3]["X-RESPONSE-COMMENT"] == "cancelled in Planon"


async def test_relink_writes_only_the_link(rig: Rig) -> None:
    uid = rig.people.book(BEN, [R1], "Adopted", at(1), at(1, 1))
    store = rig.store()
    [current] = (await store.read(WINDOW, full=True)).bookings
    before = rig.people.copies(uid)[0].master
    await store.relink(current, LINK)
    after = rig.people.copies(uid)[0].master
    assert decode_link(after[LINK_PROPERTY]) == LINK
    assert {k: str(v) for k, v in after.items() if k != LINK_PROPERTY} == {k: str(v) for k, v in before.items()}
    [linked] = (await store.read(WINDOW, full=False)).bookings
    assert linked.link == LINK
    await store.relink(linked, LINK)  # already there: nothing to write


async def test_a_delete_sends_if_match_and_keeps_an_item_edited_since(rig: Rig) -> None:
    store = rig.store()
    made = await store.create(planon_booking(rooms=frozenset({"MR-1"})))
    [current] = (await store.read(WINDOW, full=True)).bookings
    rig.people.edit(made.id, subject="Renamed by the room's delegate after RoomSync read it")
    with pytest.raises(PreconditionFailed, match="412"):
        await store.cancel(current, "cancelled in Planon")
    [kept] = rig.people.copies(made.id)
    assert str(kept.master["SUMMARY"]) == "Renamed by the room's delegate after RoomSync read it"
