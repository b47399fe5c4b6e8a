"""Scenarios 3 and 4: who decides a meeting request.

In the lead (room on AutomateProcessing AutoUpdate) Planon's business rules answer the request; following (AutoAccept)
Exchange has already answered and Planon registers it - and when Planon cannot, that is reported, never silent.
"""

from __future__ import annotations

import pytest

from roomsync.sync.status import cycle_status
from tests.scenarios.conftest import WorldFactory
from tests.scenarios.world import ANNA, BEN, CARLA, DEV, F4, L1, NOW, World, at, span


async def test_s03_in_the_lead_planon_accepts_a_request_it_can_hold(world: World) -> None:
    meeting = await world.outlook.book(BEN, [L1], "Quarterly results", at(1, 14), at(1, 15), required=[ANNA])
    [pending] = await world.entries(L1)
    assert pending.response == "notResponded"  # the room waits for Planon
    results = await world.sync()
    [reservation] = await world.reservations(L1)
    assert (reservation.subject, span(reservation), reservation.organizer) == (
        "Quarterly results",
        "Tue 04 Mar 14:00-15:00",
        BEN,
    )
    [entry] = await world.entries(L1)
    assert entry.response == "accepted"
    assert await world.outlook.answers(meeting) == [(L1.mailbox, "accepted", "Reserved in Planon.")]
    assert results["lead"].counters["accepted"] == 1 and results["lead"].counters["created"] == 1


async def test_s03_in_the_lead_planon_declines_what_it_refuses_and_leaves_nothing_behind(world: World) -> None:
    await world.kiosk_book(L1, at(1, 11), at(1, 12), "Board meeting", requestor=ANNA)
    await world.sync()
    taken = await world.outlook.book(BEN, [L1], "Budget pre-read", at(1, 11, 30), at(1, 12, 30))
    too_long = await world.outlook.book(DEV, [L1], "Offsite planning day", at(2, 9), at(2, 17))
    closed = await world.outlook.book(CARLA, [L1], "Late call", at(3, 19, 30), at(3, 21))
    results = await world.sync()

    assert [r.subject for r in await world.reservations(L1)] == ["Board meeting"]  # nothing left behind
    assert [e.subject for e in await world.entries(L1)] == ["Board meeting"]  # declined requests leave the room
    reasons = {
        taken: "is not available",  # the room is taken
        too_long: "maximum reservation duration",
        closed: "is not open",  # outside opening hours
    }
    for meeting, why in reasons.items():
        [(room, answer, comment)] = await world.outlook.answers(meeting)
        assert (room, answer) == (L1.mailbox, "declined")
        assert comment.startswith("Declined by Planon:") and why in comment, comment
    assert results["lead"].counters["declined"] == 3 and results["lead"].counters["refused"] == 3


async def test_s03_in_the_lead_an_accepted_meeting_moved_into_a_conflict_is_declined(world: World) -> None:
    """Policy: a move Planon refuses is declined like a new request, and the room's old reservation is released
    (the organizer's meeting no longer has the room; keeping the old slot would hold a room nobody comes to)."""
    meeting = await world.outlook.book(BEN, [L1], "Design sync", at(1, 9), at(1, 10))
    await world.kiosk_book(L1, at(1, 14), at(1, 15), "Board meeting", requestor=ANNA)
    await world.sync()
    assert [e.response for e in await world.entries(L1) if e.subject == "Design sync"] == ["accepted"]

    await world.outlook.edit(meeting, start=at(1, 14, 30), end=at(1, 15, 30))
    await world.sync()
    [*_, (room, answer, comment)] = await world.outlook.answers(meeting)
    assert (room, answer) == (L1.mailbox, "declined") and "is not available" in comment
    await world.sync()  # the room left the meeting: its earlier reservation is released
    assert [r.subject for r in await world.reservations(L1)] == ["Board meeting"]
    assert [e.subject for e in await world.entries(L1)] == ["Board meeting"]


@pytest.mark.calendar_needs(
    "room_agent", reason="it checks that the room's agent accepted the meeting before RoomSync ran"
)
async def test_s04_following_a_meeting_planon_cannot_register_is_reported_every_cycle(world: World) -> None:
    """``onRefused: Report`` (the default): Exchange's acceptance stands, the refusal shows in the cycle result, the
    RoomSync status (Ready stays True, Synced False with reason ActionsFailed, the room's lastError, the refused
    counter) and is retried each cycle in case the room frees up."""
    world.refusals_expected = True
    meeting = await world.outlook.book(BEN, [F4], "Evening call with New York", at(1, 19, 30), at(1, 21))
    [accepted] = await world.entries(F4)
    assert accepted.response == "accepted"
    result = (await world.sync())["follow"]

    assert await world.reservations(F4) == []
    assert result.reason == "ActionsFailed" and not result.ok
    assert "Evening call with New York" in result.message and "is not open" in result.message
    assert result.counters["refused"] == 1
    [room] = [r for r in result.rooms if r.planon == F4.code]
    assert room.last_error is not None and "is not open" in room.last_error and room.pending == 1
    status = world.statuses["follow"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert (conditions["Synced"]["status"], conditions["Synced"]["reason"]) == ("False", "ActionsFailed")
    assert status["counters"]["refused"] == 1
    assert any(r.get("lastError") for r in status["rooms"] if r["planon"] == F4.code)

    again = (await world.sync())["follow"]
    assert again.counters["refused"] == 1 and world.statuses["follow"]["counters"]["refused"] == 2
    assert [e.response for e in await world.entries(F4)] == ["accepted"]  # the calendar is left alone
    assert await world.outlook.answers(meeting) == [(F4.mailbox, "accept", "")]
    assert cycle_status(None, again, NOW, 1)["lastCycle"]["failed"] == 1


async def test_s04_following_with_on_refused_decline_takes_the_room_out_of_the_meeting(
    make_world: WorldFactory,
) -> None:
    world = await make_world(follow={"onRefused": "Decline"})
    meeting = await world.outlook.book(BEN, [F4], "Evening call with New York", at(1, 19, 30), at(1, 21))
    result = (await world.sync())["follow"]
    assert result.counters["refused"] == 1 and result.counters["declined"] == 1
    assert await world.reservations(F4) == []
    assert await world.entries(F4) == []
    [*_, (room, answer, comment)] = await world.outlook.answers(meeting)
    assert (room, answer) == (F4.mailbox, "declined") and "is not open" in comment


async def test_s03_in_the_lead_a_series_with_one_taken_occurrence_is_declined_as_a_whole(world: World) -> None:
    """Policy: a meeting request is answered once, for the whole series (Exchange has no per-occurrence answer to a
    request); Planon reserves every occurrence or none, so one taken occurrence declines the series and nothing is
    left behind. The organizer can book around it and send again."""
    await world.kiosk_book(L1, at(8, 14), at(8, 15), "Board meeting", requestor=ANNA)
    meeting = await world.outlook.book(BEN, [L1], "Weekly steering", at(1, 14), at(1, 15), rrule="FREQ=WEEKLY;COUNT=4")
    await world.sync()
    [(room, answer, comment)] = await world.outlook.answers(meeting)
    assert (room, answer) == (L1.mailbox, "declined") and "is not available" in comment
    assert [r.subject for r in await world.reservations(L1)] == ["Board meeting"]
    assert [e.subject for e in await world.entries(L1)] == ["Board meeting"]
