"""Scenarios 5 and 6: recurring meetings. Planon holds one reservation per occurrence, tied as a series (meeting id,
occurrence id, series text); the calendar holds one recurring meeting with its exceptions."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.scenarios.world import ANNA, BEN, F1, F2, L1, World, at, local, span

WEEKLY_10 = "FREQ=WEEKLY;COUNT=10"


def tuesdays(count: int, hour: int = 9) -> list[datetime]:
    return [at(1 + 7 * i, hour) for i in range(count)]


async def test_s05_recurring_outlook_meeting_becomes_one_reservation_per_occurrence(world: World) -> None:
    meeting = await world.outlook.book(
        BEN, [F1], "Weekly 1:1", at(1, 9), at(1, 9, 30), required=[ANNA], rrule=WEEKLY_10
    )
    await world.sync()
    series = await world.reservations(F1)
    assert [local(r.start) for r in series] == [local(t) for t in tuesdays(10)]
    assert len({r.meeting for r in series}) == 1 and series[0].meeting  # tied as one series
    assert len({r.occurrence for r in series}) == 10
    # the series text names the zone (Outlook sends the Windows zone "W. Europe Standard Time", read back as its
    # CLDR zone Europe/Berlin, which has the same rules), the local first start and the rule
    assert all("DTSTART:20310304T090000" in r.series and "COUNT=10" in r.series for r in series)
    before = {r.syscode: r for r in series}

    # one occurrence moved in Outlook -> only that reservation moves
    third = tuesdays(10)[2]
    await world.outlook.move_occurrence(
        meeting, third, third + timedelta(hours=5), third + timedelta(hours=5, minutes=30)
    )
    await world.sync()
    after = {r.syscode: r for r in await world.reservations(F1)}
    # (every reservation of the series gets the new link text; only the moved one changes its times)
    changed = [s for s in before if (after[s].start, after[s].end) != (before[s].start, before[s].end)]
    assert set(after) == set(before) and len(changed) == 1 and span(after[changed[0]]) == "Tue 18 Mar 14:00-14:30"

    # one occurrence cancelled in Outlook -> only that reservation is cancelled
    fifth = tuesdays(10)[4]
    await world.outlook.cancel_occurrence(meeting, fifth)
    await world.sync()
    live = {r.syscode: r for r in await world.reservations(F1)}
    assert set(before) - set(live) == {next(s for s, r in before.items() if r.start == fifth)}
    assert all((live[s].start, live[s].end) == (after[s].start, after[s].end) for s in live)

    # the series end changes: 12 occurrences -> two added; then 8 -> the last four cancelled. Exchange drops the
    # exceptions of a series whose pattern changes, so the moved and the cancelled occurrence come back.
    await world.outlook.edit(meeting, rrule="FREQ=WEEKLY;COUNT=12")
    await world.sync()
    assert [local(r.start) for r in await world.reservations(F1)] == [local(t) for t in tuesdays(12)]
    await world.outlook.edit(meeting, rrule="FREQ=WEEKLY;COUNT=8")
    await world.sync()
    final = await world.reservations(F1)
    assert [local(r.start) for r in final] == [local(t) for t in tuesdays(8)]
    assert len({r.meeting for r in final}) == 1
    assert [local(e.start) for e in await world.entries(F1)] == [local(t) for t in tuesdays(8)]


async def test_s05_open_ended_series_is_synced_within_the_window_and_extended_as_it_moves(world: World) -> None:
    """Connect for Outlook declines series without an end; RoomSync keeps them: the occurrences inside the sync
    window (spec.window.future) are reserved, and as the window moves on, new occurrences are added."""
    await world.outlook.book(BEN, [F2], "Team stand-up", at(1, 9), at(1, 9, 15), rrule="FREQ=WEEKLY")
    await world.sync()
    horizon = world.now + timedelta(days=60)
    expected = [t for t in tuesdays(20) if t < horizon]
    assert [local(r.start) for r in await world.reservations(F2)] == [local(t) for t in expected]

    world.now += timedelta(days=14)  # two weeks later the window reaches two more Tuesdays
    await world.sync()
    horizon = world.now + timedelta(days=60)
    expected = [t for t in tuesdays(20) if t < horizon]
    live = await world.reservations(F2)
    assert [local(r.start) for r in live] == [local(t) for t in expected]
    assert len({r.meeting for r in live}) == 1


async def test_s06_recurring_planon_booking_becomes_one_recurring_meeting_with_its_exceptions(world: World) -> None:
    for room in (F1, L1):
        made = await world.kiosk_book(
            room, at(1, 10), at(1, 11), f"Weekly review {room.code}", rrule="FREQ=WEEKLY;COUNT=6"
        )
        assert len(made) == 6
        await world.sync()
        entries = await world.entries(room)
        assert [local(e.start) for e in entries] == [local(t) for t in tuesdays(6, hour=10)]
        assert len({e.item for e in entries}) == 1 and all(e.recurring for e in entries)  # one recurring meeting
        assert await world.outlook.items(room) == 1

        # exceptions made in Planon: one occurrence moved, one cancelled
        await world.kiosk_edit(made[1], start=at(8, 15), end=at(8, 16))
        await world.kiosk_cancel(made[3])
        await world.sync()
        entries = await world.entries(room)
        assert [span(e) for e in entries] == [
            "Tue 04 Mar 10:00-11:00",
            "Tue 11 Mar 15:00-16:00",
            "Tue 18 Mar 10:00-11:00",
            "Tue 01 Apr 10:00-11:00",
            "Tue 08 Apr 10:00-11:00",
        ]
        assert len({e.item for e in entries}) == 1


@pytest.mark.calendar_needs(
    "refuses_some_recurrences", reason="the calendar stores every recurrence Planon has, so nothing is refused"
)
async def test_s06_a_planon_pattern_the_calendar_cannot_express_is_reported_not_dropped(world: World) -> None:
    """Documented fallback: Exchange has no "4th and 18th of the month" pattern. The calendar connector refuses to
    write an approximation; the RoomSync reports it (ActionsFailed, the room's lastError naming the rule) every cycle
    until the series is changed in Planon. The Planon reservations are left as they are."""
    world.refusals_expected = True
    made = await world.kiosk_book(
        F1, at(1, 10), at(1, 11), "Twice a month", rrule="FREQ=MONTHLY;BYMONTHDAY=4,18;COUNT=4"
    )
    result = (await world.sync())["follow"]
    assert result.reason == "ActionsFailed" and "cannot express" in result.message
    [room] = [r for r in result.rooms if r.planon == F1.code]
    assert room.last_error is not None and "BYMONTHDAY=4,18" in room.last_error
    assert await world.entries(F1) == []
    assert [r.syscode for r in await world.reservations(F1)] == [r.syscode for r in made]
