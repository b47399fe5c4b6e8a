"""Scenarios 1 and 2: single meetings made on one side reach the other with every field; edits and cancellations
follow them."""

from __future__ import annotations

from datetime import timedelta

from tests.scenarios.world import ANNA, BEN, DEV, F1, L1, World, at, span


async def test_s01_planon_booking_reaches_the_room_calendar_then_edit_and_cancel(world: World) -> None:
    for room in (F1, L1):  # following and in the lead: a Planon booking always reaches the calendar
        # a Planon touchpoint records who the room is for, not an invitation list: the meeting has no attendees
        [made] = await world.kiosk_book(room, at(1, 9), at(1, 10), f"Sprint planning {room.code}", requestor=ANNA)
        await world.sync()
        [entry] = await world.entries(room)
        assert entry.subject == f"Sprint planning {room.code}"
        assert span(entry) == "Tue 04 Mar 09:00-10:00"
        assert (entry.organizer, entry.required, entry.optional) == (ANNA, frozenset(), frozenset())
        assert not entry.recurring

        await world.kiosk_edit(made, start=at(1, 11), end=at(1, 12, 30), subject="Sprint planning (moved)")
        await world.sync()
        [entry] = await world.entries(room)
        assert (entry.subject, span(entry)) == ("Sprint planning (moved)", "Tue 04 Mar 11:00-12:30")

        await world.kiosk_cancel(made)
        await world.sync()
        assert await world.entries(room) == []
        assert [r.state for r in await world.reservations(room, live=False)] == ["UsrReservationCancelled"]


async def test_s02_outlook_meeting_in_a_following_room_reaches_planon_then_moves_and_cancels(world: World) -> None:
    meeting = await world.outlook.book(
        BEN,
        [F1],
        "Design review",
        at(2, 10),
        at(2, 11, 30),
        required=[ANNA],
        optional=[DEV],
        organizer_name="Ben Smith",
    )
    [entry] = await world.entries(F1)
    # following: a room agent (Exchange) decided before RoomSync saw anything; a plain CalDAV room has none
    assert entry.response == ("accepted" if world.room_agent else "notResponded")
    await world.sync()
    [reservation] = await world.reservations(F1)
    assert (reservation.subject, span(reservation)) == ("Design review", "Wed 05 Mar 10:00-11:30")
    assert reservation.organizer == BEN
    assert reservation.attendees.splitlines() == [f"Required: {ANNA}", f"Optional: {DEV}"]

    await world.outlook.edit(meeting, start=at(2, 14), end=at(2, 15, 30))
    await world.sync()
    [moved] = await world.reservations(F1)
    assert moved.syscode == reservation.syscode  # the reservation moves; it is not cancelled and re-made
    assert span(moved) == "Wed 05 Mar 14:00-15:30"

    await world.outlook.cancel(meeting)
    await world.sync()
    assert await world.reservations(F1) == []
    [history] = await world.reservations(F1, live=False)
    assert history.state == "UsrReservationCancelled" and history.end - history.start == timedelta(minutes=90)
