"""Google Workspace's own scenarios: a room Google replaced, a "this and following" split, an all-day event
(whole dates in the room's zone, which must be the Planon property's zone), a deleted occurrence arriving as a
stub. Each ends with the steady-state check, like every scenario."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest

from tests.scenarios.google_backend import GoogleCalendar
from tests.scenarios.world import ANNA, BEN, CARLA, F1, F2, World, at, local, span

#: Planon holding series natively (its recurrent-reservation reference), as in the recurring scenarios
NATIVE_SERIES = {"reservationFields": {"nativeSeries": "RecurrentReservationRef"}}


@pytest.fixture
async def google() -> AsyncIterator[World]:
    world = await World(GoogleCalendar(), planon_settings=NATIVE_SERIES).start()
    try:
        yield world
        await world.assert_steady(allow_refused=world.refusals_expected)
    finally:
        await world.stop()


def sandbox(world: World) -> GoogleCalendar:
    assert isinstance(world.calendar, GoogleCalendar)
    return world.calendar


async def test_g01_a_room_google_replaced_moves_the_reservation_instead_of_cancelling_it(google: World) -> None:
    sb = sandbox(google).sb
    await sb.admin.set_room(F1.mailbox, autoReplace=True)
    meeting = await google.outlook.book(BEN, [F1], "Planning", at(1, 9), at(1, 10))
    await google.outlook.book(CARLA, [F1], "Interviews", at(1, 14), at(1, 15))
    await google.sync()
    [before] = [r for r in await google.reservations(F1) if r.subject == "Planning"]

    await google.outlook.edit(meeting, start=at(1, 14), end=at(1, 15))  # F1 is taken then: Google books F2 instead
    await google.sync()
    assert [r.subject for r in await google.reservations(F1)] == ["Interviews"]
    [after] = await google.reservations(F2)
    assert (after.subject, span(after), after.meeting) == ("Planning", "Tue 04 Mar 14:00-15:00", before.meeting)
    assert [r.state for r in await google.reservations(F1, live=False) if r.subject == "Planning"] == [
        "UsrReservationCancelled"
    ]  # the room left the meeting: its reservation is released, the meeting lives on in F2


@pytest.mark.parametrize("keeps_uid", [False, True])
async def test_g02_this_and_following_splits_the_series_in_two(google: World, keeps_uid: bool) -> None:
    await sandbox(google).sb.admin.settings(splitKeepsICalUID=keeps_uid)
    meeting = await google.outlook.book(BEN, [F1], "Weekly sync", at(1, 9), at(1, 10), rrule="FREQ=WEEKLY;COUNT=6")
    await google.sync()
    assert len(await google.reservations(F1)) == 6
    await sandbox(google).sb.admin.split(meeting, at(22, 9), start=at(22, 14), end=at(22, 15))
    await google.sync()
    live = await google.reservations(F1)
    assert [span(r) for r in live] == [
        "Tue 04 Mar 09:00-10:00",
        "Tue 11 Mar 09:00-10:00",
        "Tue 18 Mar 09:00-10:00",
        "Tue 25 Mar 14:00-15:00",
        "Tue 01 Apr 14:00-15:00",
        "Tue 08 Apr 14:00-15:00",
    ]
    assert len({r.meeting for r in live[:3]}) == 1 and len({r.meeting for r in live[3:]}) == 1
    assert live[0].meeting != live[3].meeting  # two series in Planon too


async def test_g03_all_day_is_whole_dates_in_the_rooms_zone(google: World) -> None:
    day = date(2031, 3, 20)
    await google.outlook.book(ANNA, [F1], "Company offsite", at(day, 0), at(day + timedelta(days=1), 0), all_day=True)
    await google.sync()
    [offsite] = await google.reservations(F1)
    assert (local(offsite.start), local(offsite.end)) == ("Thu 20 Mar 00:00", "Fri 21 Mar 00:00")
    assert "X-ALL-DAY:TRUE" in offsite.series
    [entry] = await google.entries(F1)
    assert entry.all_day and local(entry.start) == "Thu 20 Mar 00:00"


async def test_g04_a_deleted_occurrence_arrives_as_a_stub_and_cancels_only_its_reservation(google: World) -> None:
    meeting = await google.outlook.book(BEN, [F2], "Weekly 1:1", at(1, 9), at(1, 9, 30), rrule="FREQ=WEEKLY;COUNT=5")
    await google.sync()
    before = {r.syscode: r for r in await google.reservations(F2)}
    await google.outlook.cancel_occurrence(meeting, at(15, 9))
    stubs = [
        e
        for e in sandbox(google).sb.state.calendars.calendars[F2.mailbox].events.values()
        if e.get("recurringEventId") and e["status"] == "cancelled"
    ]
    assert len(stubs) == 1  # what a sync token reports: id, recurringEventId, originalStartTime
    await google.sync()
    live = await google.reservations(F2)
    assert len(live) == 4 and {r.syscode for r in live} < set(before)
    assert local(at(15, 9)) not in [local(r.start) for r in live]
