"""Scenario 7: a meeting with several rooms made in Outlook is ONE meeting on both sides - one Planon meeting holding a
reservation per room (tied by RoomSync's meeting id), one Exchange meeting whose copies reach every room (same
iCalUId) - and rooms join and leave it. A Planon user who books two rooms makes two reservations that nothing ties
together: one calendar meeting per room."""

from __future__ import annotations

from tests.scenarios.world import ANNA, BEN, CARLA, F1, F2, F3, World, at, span


async def test_s07_outlook_meeting_with_two_rooms_is_one_planon_meeting_then_rooms_join_and_leave(world: World) -> None:
    meeting = await world.outlook.book(BEN, [F1, F2], "All hands (two rooms)", at(2, 13), at(2, 14), required=[ANNA])
    await world.sync()
    f1, f2 = await world.reservations(F1), await world.reservations(F2)
    assert len(f1) == len(f2) == 1
    assert f1[0].meeting is not None and f1[0].meeting == f2[0].meeting  # one Planon meeting holds both rooms
    assert span(f1[0]) == span(f2[0]) == "Wed 05 Mar 13:00-14:00"

    await world.outlook.edit(meeting, rooms=[F1, F2, F3])  # the organizer adds room C
    await world.sync()
    [f3] = await world.reservations(F3)
    assert f3.meeting == f1[0].meeting and span(f3) == "Wed 05 Mar 13:00-14:00"
    assert [r.syscode for r in await world.reservations(F1)] == [f1[0].syscode]  # A is untouched

    await world.outlook.edit(meeting, rooms=[F1, F3])  # the organizer drops room B
    await world.sync()
    assert await world.reservations(F2) == []  # B is released
    [released] = await world.reservations(F2, live=False)
    assert released.state == "UsrReservationCancelled" and released.syscode == f2[0].syscode
    assert [len(await world.reservations(r)) for r in (F1, F3)] == [1, 1]
    assert [e.subject for e in await world.entries(F2)] == []


async def test_s07_planon_booking_with_two_rooms_is_one_calendar_meeting_per_room(world: World) -> None:
    made = await world.kiosk_book([F1, F2], at(3, 10), at(3, 11), "Customer workshop", requestor=CARLA)
    assert len(made) == 2 and not any(r.meeting for r in made)  # two reservations, nothing ties them
    await world.sync()
    [in_f1], [in_f2] = await world.entries(F1), await world.entries(F2)
    assert in_f1.meeting != in_f2.meeting  # a meeting per reservation, each organised by its room
    assert await world.outlook.items(F1) == await world.outlook.items(F2) == 1
    assert span(in_f1) == span(in_f2) == "Thu 06 Mar 10:00-11:00"
    for entry in (in_f1, in_f2):
        assert (entry.subject, entry.organizer, entry.required) == ("Customer workshop", CARLA, frozenset())

    await world.kiosk_edit(made[0], start=at(3, 15), end=at(3, 16))  # each reservation is changed on its own
    await world.sync()
    assert [span(e) for e in await world.entries(F1) + await world.entries(F2)] == [
        "Thu 06 Mar 15:00-16:00",
        "Thu 06 Mar 10:00-11:00",
    ]
