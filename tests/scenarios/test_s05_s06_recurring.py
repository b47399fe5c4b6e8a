"""Scenarios 5 and 6: recurring meetings. Planon holds one reservation per occurrence; the calendar holds one recurring
meeting with its exceptions. A series RoomSync writes is tied by RoomSync's own bookkeeping (meeting id, occurrence
id, series text); a series a Planon user makes ("Make recurrent") is tied only by Planon's native series link, which
RoomSync uses when the Connection names it (``reservationFields.nativeSeries``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.scenarios.conftest import WorldFactory
from tests.scenarios.world import ANNA, BEN, F1, F2, L1, World, at, local, span

WEEKLY_10 = "FREQ=WEEKLY;COUNT=10"
#: The Planon Connection names the field that ties a native series (the sandbox's choice of field).
NATIVE_SERIES = {"reservationFields": {"nativeSeries": "RecurrentReservationRef"}}


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


async def test_s06_recurring_planon_booking_becomes_one_recurring_meeting_with_its_exceptions(
    make_world: WorldFactory,
) -> None:
    """With ``nativeSeries`` configured, a series made in Planon is one recurring meeting; once synced, RoomSync's
    bookkeeping is on its reservations and Planon edits of single occurrences become exceptions."""
    world = await make_world(planon=NATIVE_SERIES)
    for room in (F1, L1):
        made = await world.kiosk_book(
            room, at(1, 10), at(1, 11), f"Weekly review {room.code}", rrule="FREQ=WEEKLY;COUNT=6"
        )
        assert len(made) == 6 and {r.native_series for r in made} == {made[0].syscode}
        assert not any(r.meeting or r.occurrence or r.series or r.attendees for r in made)  # Planon writes no more
        await world.sync()
        entries = await world.entries(room)
        assert [local(e.start) for e in entries] == [local(t) for t in tuesdays(6, hour=10)]
        assert len({e.item for e in entries}) == 1 and all(e.recurring for e in entries)  # one recurring meeting
        assert await world.outlook.items(room) == 1
        synced = await world.reservations(room)
        assert [r.syscode for r in synced] == [r.syscode for r in made]  # the same reservations, now tied by RoomSync
        assert len({r.meeting for r in synced}) == 1 and all("COUNT=6" in r.series for r in synced)
        assert len({r.occurrence for r in synced}) == 6

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


async def test_s06_a_native_series_with_cancelled_and_moved_occurrences_is_inferred_with_its_exceptions(
    make_world: WorldFactory,
) -> None:
    """Edits made in Planon before the first sync: the rule is inferred from every reservation of the series,
    cancelled ones included (a cancelled occurrence is an exception date, one moved within its day a modified
    occurrence), and the series reaches the calendar as one recurring meeting with those exceptions."""
    world = await make_world(planon=NATIVE_SERIES)
    made = await world.kiosk_book(F1, at(1, 10), at(1, 11), "Daily check-in", rrule="FREQ=DAILY;INTERVAL=2;COUNT=5")
    await world.kiosk_edit(made[2], start=at(5, 14), end=at(5, 15))
    await world.kiosk_cancel(made[4])
    await world.kiosk_cancel(made[1])
    await world.sync()
    entries = await world.entries(F1)
    assert [span(e) for e in entries] == ["Tue 04 Mar 10:00-11:00", "Sat 08 Mar 14:00-15:00", "Mon 10 Mar 10:00-11:00"]
    assert len({e.item for e in entries}) == 1 and all(e.recurring for e in entries)
    assert [r.syscode for r in await world.reservations(F1)] == [made[0].syscode, made[2].syscode, made[3].syscode]


async def test_s06_without_native_series_each_planon_occurrence_is_a_meeting_of_its_own(world: World) -> None:
    """Without ``nativeSeries`` nothing tells RoomSync which reservations a Planon user made as one series: each is a
    meeting of its own in the calendar, and edits and cancellations in Planon follow per occurrence."""
    made = await world.kiosk_book(F1, at(1, 10), at(1, 11), "Weekly review", rrule="FREQ=WEEKLY;COUNT=4")
    await world.sync()
    entries = await world.entries(F1)
    assert [local(e.start) for e in entries] == [local(t) for t in tuesdays(4, hour=10)]
    assert len({e.item for e in entries}) == 4 and not any(e.recurring for e in entries)
    assert await world.outlook.items(F1) == 4

    await world.kiosk_edit(made[1], start=at(8, 15), end=at(8, 16))
    await world.kiosk_cancel(made[3])
    await world.sync()
    assert [span(e) for e in await world.entries(F1)] == [
        "Tue 04 Mar 10:00-11:00",
        "Tue 11 Mar 15:00-16:00",
        "Tue 18 Mar 10:00-11:00",
    ]


async def test_s06_a_native_pattern_roomsync_cannot_infer_is_one_meeting_per_reservation(
    make_world: WorldFactory,
) -> None:
    """Documented fallback: RoomSync infers daily, weekly and monthly-by-date patterns. The 4th and 18th of each month
    is none of them; the series is not guessed at and not dropped: each reservation is a meeting of its own, and the
    Planon reservations are left as they are."""
    world = await make_world(planon=NATIVE_SERIES)
    made = await world.kiosk_book(
        F1, at(1, 10), at(1, 11), "Twice a month", rrule="FREQ=MONTHLY;BYMONTHDAY=4,18;COUNT=4"
    )
    result = (await world.sync())["follow"]
    assert result.ok, result.message
    entries = await world.entries(F1)
    assert [local(e.start) for e in entries] == [local(r.start) for r in made]
    assert not any(e.recurring for e in entries) and len({e.item for e in entries}) == 4
    assert [r.syscode for r in await world.reservations(F1)] == [r.syscode for r in made]
