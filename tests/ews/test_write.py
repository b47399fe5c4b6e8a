"""Writing: CreateItem with the invitation behaviour of ``spec.invitations``, idempotent creates without a
transactionId, UpdateItem of changed fields only that refuses a stale ChangeKey, relinks, cancellations, answers to
meeting requests with Planon's reason as their body, and re-booking when the organising room leaves."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from roomsync.connectors.base import PreconditionFailed
from roomsync.connectors.ews.errors import WriteUncertain
from roomsync.connectors.ews.store import EwsStore
from roomsync.model import Booking, Link, OccurrenceOverride, Person, Recurrence, Response, people
from roomsync.sandbox.ews import ExchangeSandbox
from tests.ews.conftest import ANNA, BEN, R1, R2, R3, WINDOW, StoreFactory, at

DEV = "dev@corp.example"


def planon_booking(rooms: frozenset[str] = frozenset({"R1"}), **changes: object) -> Booking:
    booking = Booking(
        id="rs-1",
        subject="Sprint planning",
        start=at(4, 9),
        end=at(4, 10),
        timezone="Europe/Amsterdam",
        organizer=Person(ANNA, "Anna"),
        required=people([BEN]),
        optional=people([DEV]),
        rooms=rooms,
        link=Link("rs-1", "fp1", 1),
    )
    return replace(booking, **changes)  # type: ignore[arg-type]


async def _writes(exchange: ExchangeSandbox, mailbox: str | None = None) -> list[tuple[str, str]]:
    return [
        (e["operation"], e["code"])
        for e in await exchange.admin.ews_log(mailbox)
        if e["operation"] in ("CreateItem", "UpdateItem", "DeleteItem")
    ]


def _events(exchange: ExchangeSandbox, mailbox: str) -> list[object]:
    return list(exchange.state.mailboxes[mailbox].events.values())


@pytest.mark.parametrize(
    ("invitations", "send", "invited"),
    [
        ("OrganizerOnly", "SendToAllAndSaveCopy", {ANNA}),
        ("None", "SendToNone", set()),
        ("All", "SendToAllAndSaveCopy", {ANNA, BEN, DEV}),
    ],
)
async def test_create_organised_by_the_room_with_the_invitations_policy(
    exchange: ExchangeSandbox, make_store: StoreFactory, invitations: str, send: str, invited: set[str]
) -> None:
    store = make_store(invitations=invitations)
    created = await store.create(planon_booking())
    [event] = _events(exchange, R1)
    assert event.ical_uid == created.id and event.is_organizer and event.subject == "Sprint planning"  # type: ignore[attr-defined]
    assert {a.address for a in event.attendees} == invited  # type: ignore[attr-defined]
    [create] = [e for e in await exchange.admin.ews_log(R1) if e["operation"] == "CreateItem"]
    assert (create["send"], create["disposition"]) == (send, "SaveOnly")
    assert {m["to"] for m in await exchange.admin.mail() if m["kind"] == "invitation"} == invited
    # the booking reads back as written: the person it is for comes from the people property, the link with it
    [read] = (await store.read(WINDOW, full=True)).bookings
    assert (read.id, read.organizer, read.required, read.optional, read.link) == (
        created.id,
        Person(ANNA),
        people([BEN]),
        people([DEV]),
        Link("rs-1", "fp1", 1),
    )
    assert created.handle is not None and read.handle is not None and read.handle.items == created.handle.items


async def test_a_meeting_in_two_rooms_is_one_meeting_the_second_room_is_invited_to(
    exchange: ExchangeSandbox, make_store: StoreFactory
) -> None:
    store = make_store(invitations="None")
    created = await store.create(planon_booking(frozenset({"R1", "R2"})))
    [organised], [copy] = _events(exchange, R1), _events(exchange, R2)
    assert organised.ical_uid == copy.ical_uid == created.id and not copy.is_organizer  # type: ignore[attr-defined]
    [read] = (await store.read(WINDOW, full=True)).bookings
    assert read.rooms == {"R1", "R2"} and read.id == created.id


async def test_a_series_with_exceptions_is_one_master_with_a_moved_and_a_deleted_occurrence(
    exchange: ExchangeSandbox, make_store: StoreFactory
) -> None:
    second, third = at(11, 9), at(18, 9)
    rule = Recurrence.parse("FREQ=WEEKLY;COUNT=4").with_exceptions(
        [third], [OccurrenceOverride(second, second + timedelta(hours=5), second + timedelta(hours=6), "Moved")]
    )
    store = make_store()
    created = await store.create(planon_booking(recurrence=rule))
    [master] = _events(exchange, R1)
    assert set(master.cancelled) == {third} and master.exceptions[second].subject == "Moved"  # type: ignore[attr-defined]
    assert await _writes(exchange, R1) == [
        ("CreateItem", "NoError"),
        ("UpdateItem", "NoError"),
        ("DeleteItem", "NoError"),
    ]
    [read] = (await store.read(WINDOW, full=True)).bookings
    assert read.id == created.id and read.recurrence is not None
    assert (read.recurrence.exdates, read.recurrence.overrides) == (rule.exdates, rule.overrides)
    expand = lambda r: r.occurrences(created.start, created.duration, created.timezone, WINDOW.start, WINDOW.end)  # noqa: E731
    assert expand(read.recurrence) == expand(rule)


@pytest.mark.parametrize("lost", ["Unavailable", "InternalError", "Reset"])
async def test_a_create_whose_answer_was_lost_is_looked_up_not_repeated(
    exchange: ExchangeSandbox, make_store: StoreFactory, lost: str
) -> None:
    await exchange.admin.ews_fault(lost, operation="CreateItem", after=True)  # carried out, then the answer lost
    created = await make_store().create(planon_booking())
    [event] = _events(exchange, R1)
    assert created.id == event.ical_uid  # type: ignore[attr-defined]
    log = [
        (e["operation"], e.get("restricted")) for e in await exchange.admin.ews_log(R1) if e["operation"] != "GetItem"
    ]
    assert log == [("CreateItem", None), ("FindItem", True)]


async def test_a_create_that_was_not_carried_out_is_made_once_after_the_lookup(
    exchange: ExchangeSandbox, make_store: StoreFactory
) -> None:
    await exchange.admin.ews_fault("Unavailable", operation="CreateItem")  # refused before anything happened
    await make_store().create(planon_booking())
    assert len(_events(exchange, R1)) == 1
    assert [e["operation"] for e in await exchange.admin.ews_log(R1)] == ["CreateItem", "FindItem", "CreateItem"]


async def test_a_create_that_failed_uncertain_is_looked_up_first_when_tried_again(
    exchange: ExchangeSandbox, make_store: StoreFactory
) -> None:
    store = make_store()
    await exchange.admin.ews_fault("Unavailable", operation="CreateItem", after=True)
    await exchange.admin.ews_fault("InternalError", operation="FindItem", count=10)  # and the look-up fails too
    with pytest.raises(WriteUncertain):
        await store.create(planon_booking())
    await exchange.admin.clear_ews_faults()
    created = await store.create(planon_booking())  # the next cycle: the link is looked up before creating
    assert [e.ical_uid for e in _events(exchange, R1)] == [created.id]  # type: ignore[attr-defined]
    assert [e["operation"] for e in await exchange.admin.ews_log(R1)].count("CreateItem") == 1


async def test_a_throttled_create_is_tried_again_without_a_lookup(
    exchange: ExchangeSandbox, make_store: StoreFactory
) -> None:
    await exchange.admin.ews_fault("ServerBusy", operation="CreateItem", back_off_ms=20)
    await make_store().create(planon_booking())
    assert len(_events(exchange, R1)) == 1
    assert [(e["operation"], e["code"]) for e in await exchange.admin.ews_log(R1)] == [
        ("CreateItem", "ErrorServerBusy"),
        ("CreateItem", "NoError"),
    ]


async def _created_and_read(store: EwsStore) -> Booking:
    await store.create(planon_booking())
    [read] = (await store.read(WINDOW, full=True)).bookings
    return read


async def test_an_update_writes_only_the_changed_fields_and_never_overwrites(
    exchange: ExchangeSandbox, make_store: StoreFactory
) -> None:
    store = make_store()
    current = await _created_and_read(store)
    await exchange.admin.reset_ews_requests()
    desired = replace(current, subject="Sprint planning (renamed)", link=Link("rs-1", "fp2", 2))
    await store.update(current, desired, ["subject"])
    [update] = [e for e in await exchange.admin.ews_log(R1) if e["operation"] == "UpdateItem"]
    assert update["conflictResolution"] == "NeverOverwrite"
    assert update["fields"] == ["RoomSyncLink", "item:Subject"]
    [event] = _events(exchange, R1)
    assert event.subject == "Sprint planning (renamed)" and event.start == at(4, 9)  # type: ignore[attr-defined]


async def test_a_persons_edit_between_read_and_write_is_refused_not_overwritten(
    exchange: ExchangeSandbox, make_store: StoreFactory
) -> None:
    store = make_store()
    current = await _created_and_read(store)
    await exchange.admin.edit(current.id, subject="Changed by the room's delegate")  # after RoomSync read it
    with pytest.raises(PreconditionFailed, match="ErrorIrresolvableConflict"):
        await store.update(current, replace(current, start=at(4, 11), end=at(4, 12)), ["start", "end"])
    [event] = _events(exchange, R1)
    assert (event.subject, event.start) == ("Changed by the room's delegate", at(4, 9))  # type: ignore[attr-defined]
    [fresh] = (await store.read(WINDOW, full=False)).bookings
    await store.update(fresh, replace(fresh, start=at(4, 11), end=at(4, 12)), ["start", "end"])  # re-read: it goes
    assert _events(exchange, R1)[0].start == at(4, 11)  # type: ignore[attr-defined]


async def test_relink_writes_only_the_link_and_tells_nobody(
    exchange: ExchangeSandbox, make_store: StoreFactory
) -> None:
    store = make_store()
    current = await _created_and_read(store)
    await exchange.admin.reset_ews_requests()
    mail = len(await exchange.admin.mail())
    await store.relink(current, Link("rs-1", "fp9", 9))
    [update] = [e for e in await exchange.admin.ews_log(R1) if e["operation"] == "UpdateItem"]
    assert (update["fields"], update["send"]) == (["RoomSyncLink"], "SendToNone")
    assert len(await exchange.admin.mail()) == mail
    assert (await store.read(WINDOW, full=False)).bookings[0].link == Link("rs-1", "fp9", 9)


@pytest.mark.parametrize(
    ("response", "kind"), [(Response.ACCEPT, "accepted"), (Response.TENTATIVE, "tentativelyAccepted")]
)
async def test_planon_answers_a_request_with_its_reason_as_the_body(
    exchange: ExchangeSandbox, make_store: StoreFactory, response: Response, kind: str
) -> None:
    uid = await exchange.admin.book_in_outlook(BEN, [R3], "Quarterly results", at(4, 14), at(4, 15))
    store = make_store()
    [request] = (await store.read(WINDOW, full=True)).bookings
    assert request.awaiting_response
    await store.respond(request, response, "Reserved in Planon.")
    [answer] = [m for m in await exchange.admin.mail() if m["from"] == R3]
    assert (answer["kind"], answer["comment"], answer["iCalUId"]) == (kind, "Reserved in Planon.", uid)
    [create] = [e for e in await exchange.admin.ews_log(R3) if e["operation"] == "CreateItem"]
    assert create["disposition"] == "SendAndSaveCopy"


async def test_a_decline_carries_planons_reason_and_takes_the_request_off_the_calendar(
    exchange: ExchangeSandbox, make_store: StoreFactory
) -> None:
    await exchange.admin.book_in_outlook(BEN, [R3], "Offsite planning day", at(4, 9), at(4, 17))
    store = make_store()
    [request] = (await store.read(WINDOW, full=True)).bookings
    reason = "Declined by Planon: the reservation exceeds the maximum duration of R3 (240 minutes)"
    await store.respond(request, Response.DECLINE, reason)
    assert [(m["kind"], m["comment"]) for m in await exchange.admin.mail() if m["from"] == R3] == [("declined", reason)]
    assert _events(exchange, R3) == [] and (await store.read(WINDOW, full=False)).bookings == ()


async def test_answering_a_request_that_changed_since_it_was_read_is_refused(
    exchange: ExchangeSandbox, make_store: StoreFactory
) -> None:
    uid = await exchange.admin.book_in_outlook(BEN, [R3], "Quarterly results", at(4, 14), at(4, 15))
    store = make_store()
    [request] = (await store.read(WINDOW, full=True)).bookings
    await exchange.admin.edit(uid, start=at(4, 16), end=at(4, 17))  # the organizer moves it before Planon answers
    with pytest.raises(PreconditionFailed, match="ErrorStaleObject"):
        await store.respond(request, Response.ACCEPT, "Reserved in Planon.")
    assert not [m for m in await exchange.admin.mail() if m["from"] == R3]


async def test_cancel_tells_the_attendees_or_deletes_or_declines(
    exchange: ExchangeSandbox, make_store: StoreFactory
) -> None:
    store = make_store()  # OrganizerOnly: Anna is invited, so the cancellation reaches her
    with_attendees = await store.create(planon_booking())
    quiet = make_store(invitations="None")
    alone = await quiet.create(planon_booking(id="rs-2", link=Link("rs-2", "fp", 1), start=at(5, 9), end=at(5, 10)))
    outlook = await exchange.admin.book_in_outlook(BEN, [R2], "Design review", at(6, 9), at(6, 10))
    bookings = {b.id: b for b in (await store.read(WINDOW, full=True)).bookings}
    await store.cancel(bookings[with_attendees.id], "Cancelled in Planon.")
    await store.cancel(bookings[alone.id], "Cancelled in Planon.")
    await store.cancel(bookings[outlook], "Cancelled in Planon.")
    mail = [
        (m["kind"], m["to"], m["comment"])
        for m in await exchange.admin.mail()
        if m["kind"] in ("cancellation", "declined")
    ]
    assert ("cancellation", ANNA, "Cancelled in Planon.") in mail and ("declined", BEN, "Cancelled in Planon.") in mail
    assert _events(exchange, R1) == [] and _events(exchange, R2) == []
    writes = [
        (e["operation"], e.get("items"))
        for e in await exchange.admin.ews_log()
        if e["operation"] in ("CreateItem", "DeleteItem")
    ]
    assert writes[-3:] == [
        ("CreateItem", ["CancelCalendarItem"]),
        ("DeleteItem", None),
        ("CreateItem", ["DeclineItem"]),
    ]


async def test_when_the_organising_room_leaves_the_meeting_is_booked_anew(
    exchange: ExchangeSandbox, make_store: StoreFactory
) -> None:
    store = make_store()
    await store.create(planon_booking(frozenset({"R1", "R2"})))
    [current] = (await store.read(WINDOW, full=True)).bookings
    desired = replace(current, rooms=frozenset({"R2"}), link=Link("rs-1", "fp2", 2))
    moved = await store.update(current, desired, ["rooms"])
    assert moved.id != current.id and moved.rooms == {"R2"}
    organised = [e for e in _events(exchange, R2) if e.is_organizer]  # type: ignore[attr-defined]
    assert [e.ical_uid for e in organised] == [moved.id]  # type: ignore[attr-defined]
    assert _events(exchange, R1) == []  # the old meeting is cancelled; R2's copy of it says so
    assert all(e.is_cancelled for e in _events(exchange, R2) if not e.is_organizer)  # type: ignore[attr-defined]
    live = [b for b in (await store.read(WINDOW, full=False)).bookings if not b.cancelled]
    assert [(b.id, b.link, b.organizer) for b in live] == [(moved.id, Link("rs-1", "fp2", 2), Person(ANNA))]


async def test_an_answer_planned_with_an_update_is_not_refused_because_of_that_update(
    exchange: ExchangeSandbox, make_store: StoreFactory
) -> None:
    """The ChangeKey our own UpdateItem produced is ours: the accept planned on the same read goes through, while a
    person's edit in between would still be refused."""
    await exchange.admin.book_in_outlook(BEN, [R3], "Quarterly results", at(4, 14), at(4, 15))
    store = make_store()
    [request] = (await store.read(WINDOW, full=True)).bookings
    await store.update(request, replace(request, link=Link("rs-9", "fp", 1)), [])
    await store.respond(request, Response.ACCEPT, "Reserved in Planon.")
    assert [m["kind"] for m in await exchange.admin.mail() if m["from"] == R3] == ["accepted"]
