"""Scenario 11: no shifted hours or days. An organizer in New York books a room in Amsterdam in the weeks when only
the US has changed to summer time; weekly series cross the EU change; all-day bookings stay on their dates. The
Planon API user works in Europe/London, a third zone, so every conversion is exercised."""

from __future__ import annotations

from datetime import date, timedelta

from tests.scenarios.world import ANNA, BEN, EU_DST, F1, F2, F3, NEW_YORK, NORA, US_DST, World, at, local, span


async def test_s11_organizer_in_new_york_books_a_room_in_amsterdam(world: World) -> None:
    day = US_DST + timedelta(days=9)  # Tuesday 18 March: New York is UTC-4 already, Amsterdam still UTC+1
    start = at(day, 5, tz=NEW_YORK)
    await world.outlook.book(NORA, [F1], "Call with New York", start, start + timedelta(hours=1), tz="America/New_York")
    await world.sync()
    [reservation] = await world.reservations(F1)
    assert span(reservation) == "Tue 18 Mar 10:00-11:00"  # 05:00 EDT is 10:00 CET
    assert span(reservation, NEW_YORK) == "Tue 18 Mar 05:00-06:00"
    assert reservation.organizer == NORA  # not a Planon person: kept as external requestor


async def test_s11_weekly_series_keep_their_local_time_across_the_dst_change(world: World) -> None:
    first = EU_DST - timedelta(days=12)  # Tuesday 18 March, two weeks before and two after the change
    await world.outlook.book(BEN, [F2], "Weekly ops", at(first, 9), at(first, 10), rrule="FREQ=WEEKLY;COUNT=4")
    made = await world.kiosk_book(F3, at(first, 16), at(first, 17), "Weekly sales", rrule="FREQ=WEEKLY;COUNT=4")
    assert [local(r.start) for r in made][-1] == "Tue 08 Apr 16:00"
    await world.sync()
    assert [span(r) for r in await world.reservations(F2)] == [
        "Tue 18 Mar 09:00-10:00",
        "Tue 25 Mar 09:00-10:00",
        "Tue 01 Apr 09:00-10:00",
        "Tue 08 Apr 09:00-10:00",
    ]
    assert [span(e) for e in await world.entries(F3)] == [
        "Tue 18 Mar 16:00-17:00",
        "Tue 25 Mar 16:00-17:00",
        "Tue 01 Apr 16:00-17:00",
        "Tue 08 Apr 16:00-17:00",
    ]
    # the UTC hours do move: that is what keeps the local ones fixed
    assert {r.start.hour for r in await world.reservations(F2)} == {8, 7}


async def test_s11_all_day_bookings_stay_on_their_dates(world: World) -> None:
    one = date(2031, 3, 20)
    await world.outlook.book(ANNA, [F1], "Company offsite", at(one, 0), at(one + timedelta(days=1), 0), all_day=True)
    two = EU_DST - timedelta(days=1)  # Saturday and Sunday 29-30 March: the second day is one hour short
    await world.outlook.book(BEN, [F2], "Hackathon", at(two, 0), at(two + timedelta(days=2), 0), all_day=True)
    await world.sync()
    [offsite] = await world.reservations(F1)
    assert (local(offsite.start), local(offsite.end)) == ("Thu 20 Mar 00:00", "Fri 21 Mar 00:00")
    assert "X-ALL-DAY:TRUE" in offsite.series
    [hackathon] = await world.reservations(F2)
    assert local(hackathon.start) == "Sat 29 Mar 00:00" and local(hackathon.end) == "Mon 31 Mar 00:00"
    assert hackathon.end - hackathon.start == timedelta(hours=47)
    for room, expected in ((F1, ["Thu 20 Mar 00:00"]), (F2, ["Sat 29 Mar 00:00"])):
        entries = await world.entries(room)
        assert [local(e.start) for e in entries] == expected and all(e.all_day for e in entries)
