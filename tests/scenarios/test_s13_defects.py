"""Scenario 13: the defects of issue 11 that lost or invented reservations, each as people meet it.

Each of these failed against the calendar connector as it was before the fix, run against a calendar sandbox that
behaves as its vendor documents (all-day dates that float, delta updates that carry only what changed):

* 11.2 a Planon user cancels one occurrence of a Planon-made series (and moves none);
* 11.3 an all-day meeting lands in Planon midnight to midnight, and a Planon move keeps it all-day on its new date;
* 11.4 an organizer moves one occurrence and renames the series, and the calendar reports only what changed;
* 11.5 a Planon user moves a reservation to another room of the same RoomSync.
"""

from __future__ import annotations

from datetime import date, timedelta

from tests.scenarios.conftest import WorldFactory
from tests.scenarios.test_s05_s06_recurring import NATIVE_SERIES
from tests.scenarios.world import ANNA, BEN, CANCELLED, F1, F2, World, at, local, span


async def test_s13_a_planon_user_cancels_one_occurrence_and_it_stays_cancelled(make_world: WorldFactory) -> None:
    """11.2: the calendar drops exactly that occurrence, and the next cycles do not bring it back."""
    world = await make_world(planon=NATIVE_SERIES)  # a series made in Planon is one recurring meeting
    made = await world.kiosk_book(F1, at(1, 10), at(1, 11), "Weekly planning", rrule="FREQ=WEEKLY;COUNT=5")
    await world.sync()
    assert [span(e) for e in await world.entries(F1)] == [span(r) for r in made]
    assert await world.outlook.items(F1) == 1  # one recurring meeting

    await world.kiosk_cancel(made[2])
    result = (await world.sync())["follow"]
    assert result.error is None and result.reason != "ActionsFailed", result.message
    expected = [span(r) for i, r in enumerate(made) if i != 2]
    assert [span(e) for e in await world.entries(F1)] == expected
    for _ in range(2):  # the cancelled occurrence is not re-reserved from the calendar, cycle after cycle
        await world.sync()
        assert [span(r) for r in await world.reservations(F1)] == expected
        assert [span(e) for e in await world.entries(F1)] == expected
    [cancelled] = [r for r in await world.reservations(F1, live=False) if r.state == CANCELLED]
    assert cancelled.syscode == made[2].syscode


async def test_s13_an_all_day_meeting_is_midnight_to_midnight_in_planon_and_moves_as_one(world: World) -> None:
    """11.3: Graph returns all-day dates, not instants; they are the dates in the room's (= the property's) zone."""
    day = date(2031, 3, 12)
    await world.outlook.book(BEN, [F2], "Team day", at(day, 0), at(day + timedelta(days=1), 0), all_day=True)
    await world.sync()
    [reservation] = await world.reservations(F2)
    assert (local(reservation.start), local(reservation.end)) == ("Wed 12 Mar 00:00", "Thu 13 Mar 00:00")

    # the Planon user moves it a day on: the calendar holds an all-day event on the new date
    await world.kiosk_edit(reservation, start=at(day + timedelta(days=1), 0), end=at(day + timedelta(days=2), 0))
    await world.sync()
    [entry] = await world.entries(F2)
    assert entry.all_day and (local(entry.start), local(entry.end)) == ("Thu 13 Mar 00:00", "Fri 14 Mar 00:00")
    [reservation] = await world.reservations(F2)
    assert (local(reservation.start), local(reservation.end)) == ("Thu 13 Mar 00:00", "Fri 14 Mar 00:00")


async def test_s13_partial_delta_updates_move_one_occurrence_and_rename_without_phantoms(world: World) -> None:
    """11.4: an occurrence moved in Outlook moves its reservation (no phantom with an empty subject), and a rename
    reaches Planon on the next, incremental, cycle."""
    meeting = await world.outlook.book(
        BEN, [F1], "Weekly 1:1", at(1, 9), at(1, 9, 30), required=[ANNA], rrule="FREQ=WEEKLY;COUNT=4"
    )
    await world.sync()
    before = {r.syscode: r for r in await world.reservations(F1)}
    assert len(before) == 4

    second = at(8, 9)
    await world.outlook.move_occurrence(meeting, second, second + timedelta(hours=6), second + timedelta(hours=6.5))
    await world.sync()
    after = await world.reservations(F1)
    assert {r.syscode for r in after} == set(before)  # moved, not a new reservation beside a refused one
    assert [r.subject for r in after] == ["Weekly 1:1"] * 4
    assert "Tue 11 Mar 15:00-15:30" in [span(r) for r in after]

    await world.outlook.edit(meeting, subject="Weekly one-to-one")
    result = (await world.sync())["follow"]
    assert not result.full  # an incremental read (the calendar's delta) carried the rename
    entries = await world.entries(F1)
    assert [(span(r), r.subject) for r in await world.reservations(F1)] == [(span(e), e.subject) for e in entries]
    # every occurrence that follows the series is renamed (whether a moved one keeps its own subject is the
    # calendar's business: Exchange renames it too, Google keeps the exception's)
    assert sum(e.subject == "Weekly one-to-one" for e in entries) >= 3


async def test_s13_a_planon_user_moves_a_reservation_to_another_room_and_the_calendar_follows(world: World) -> None:
    """11.5: the room that organises the meeting leaves it, so the meeting is booked in the new room and the old
    room's meeting is cancelled, in one successful cycle that leaves nothing to do."""
    [made] = await world.kiosk_book(F1, at(2, 14), at(2, 15), "Budget review", requestor=ANNA)
    await world.sync()
    [old] = await world.entries(F1)

    await world.planon.admin.edit(made.syscode, unit=F2.code)
    result = (await world.sync())["follow"]
    assert result.error is None and result.reason != "ActionsFailed", result.message
    assert await world.entries(F1) == []
    [new] = await world.entries(F2)  # (Exchange: a new meeting, since the room that organised it left)
    assert span(new) == span(old) == "Wed 05 Mar 14:00-15:00"
    assert (new.subject, new.organizer) == ("Budget review", ANNA)
    [moved] = await world.reservations(F2)
    assert moved.syscode == made.syscode and await world.reservations(F1) == []
    await world.assert_steady()  # Planon's link already names the new meeting: nothing left to do
