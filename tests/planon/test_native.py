"""Planon's own series ("Make recurrent") and multi-room bookings, as a Planon user makes them at a touchpoint.

Planon ties the reservations of a native series only by its series link (the sandbox: ``RecurrentReservationRef``)
and the reservations of a booking in two rooms not at all. With ``reservationFields.nativeSeries`` set, a native
series is one recurring booking whose rule is inferred; without it, and for multi-room bookings, every reservation
is a booking of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from roomsync.connectors.planon import PlanonSettings, PlanonStore
from roomsync.connectors.planon.codec import Codec, Row
from roomsync.connectors.planon.native import NotInferable, infer
from roomsync.connectors.registry import StoreOptions
from roomsync.model import Link, Status, Window
from roomsync.sandbox.planon import PlanonSandbox
from tests.planon.conftest import AMS, ROOMS, ClientFactory, monday

NATIVE = {"reservationFields": {"nativeSeries": "RecurrentReservationRef"}}


def row(syscode: int, start: datetime, minutes: int = 60, *, live: bool = True, room: str = "AMS-1.01") -> Row:
    codec = Codec(PlanonSettings(url="http://planon.example", time_zone="Europe/Amsterdam"))
    record = {
        "Syscode": syscode,
        "ReservationUnitRef": 7 if room == "AMS-1.01" else 8,
        "BeginDateTime": codec.wall(start),
        "EndDateTime": codec.wall(start + timedelta(minutes=minutes)),
        "Description": "Review",
        "SystemState": "UsrReservationConfirmed" if live else "UsrReservationCancelled",
    }
    return codec.row(record, {7: "AMS-1.01", 8: "AMS-1.02"})


def at(day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2031, 3, day, hour, minute, tzinfo=AMS)


@pytest.mark.parametrize(
    ("days", "rule"),
    [
        ([4, 11, 18, 25], "FREQ=WEEKLY;COUNT=4"),
        ([4, 18], "FREQ=WEEKLY;INTERVAL=2;COUNT=2"),
        ([3, 5, 7, 9, 11], "FREQ=DAILY;INTERVAL=2;COUNT=5"),
        ([3, 4, 5, 6, 7, 10, 11], "FREQ=DAILY;COUNT=9"),  # weekdays: the weekend in between is two exception dates
    ],
)
def test_daily_and_weekly_patterns_are_inferred_with_a_count(days: list[int], rule: str) -> None:
    found = infer([row(100 + d, at(d)) for d in days], "Europe/Amsterdam")
    assert found.series.rule is not None and found.series.rule.rule() == rule
    assert found.series.start == at(days[0]).astimezone(UTC) and found.series.duration == timedelta(hours=1)
    assert sorted(found.originals.values()) == [at(d).astimezone(UTC) for d in days]


def test_monthly_on_the_day_of_the_month_across_dst_keeps_its_wall_time() -> None:
    rows = [row(1, datetime(2031, m, 15, 9, 0, tzinfo=AMS)) for m in (1, 2, 3, 4, 5)]
    found = infer(rows, "Europe/Amsterdam")
    assert found.series.rule is not None and found.series.rule.rule() == "FREQ=MONTHLY;COUNT=5"
    assert {o.astimezone(AMS).hour for o in found.originals.values()} == {9}


def test_cancelled_reservations_shape_the_pattern_and_a_moved_one_keeps_its_day() -> None:
    rows = [row(1, at(4)), row(2, at(11), live=False), row(3, at(18, 15)), row(4, at(25))]
    found = infer(rows, "Europe/Amsterdam")
    assert found.series.rule is not None and found.series.rule.rule() == "FREQ=WEEKLY;COUNT=4"
    assert found.originals[3] == at(18).astimezone(UTC)  # the 15:00 reservation is the 18th's occurrence, moved


@pytest.mark.parametrize(
    ("rows", "why"),
    [
        ([row(1, at(4)), row(2, at(4, 14))], "two reservations on 2031-03-04"),
        ([row(1, at(4)), row(2, at(11), room="AMS-1.02")], "more than one room"),
        ([row(1, at(4)), row(2, at(18)), row(3, at(21)), row(4, at(31))], "follow no daily, weekly or monthly"),
        ([row(1, at(4))], "a single reservation"),
    ],
)
def test_what_follows_no_inferable_pattern_is_refused_with_a_reason(rows: list[Row], why: str) -> None:
    with pytest.raises(NotInferable, match=why):
        infer(rows, "Europe/Amsterdam")


@pytest.fixture
def native(make_client: ClientFactory) -> PlanonStore:
    return make_client(**NATIVE).store(ROOMS, StoreOptions("default/rs"))


def window(start: datetime) -> Window:
    return Window(start - timedelta(days=1), start + timedelta(days=60))


async def test_a_native_series_is_one_booking_and_gets_roomsyncs_bookkeeping_with_its_link(
    native: PlanonStore, sandbox: PlanonSandbox
) -> None:
    start = monday(hour=10)
    made = await sandbox.admin.book(
        "AMS-1.01", start, start + timedelta(hours=1), "Review", recurrence="FREQ=WEEKLY;COUNT=5"
    )
    await sandbox.admin.cancel(made[2]["syscode"])
    (booking,) = (await native.read(window(start), full=True)).bookings
    assert booking.id == f"N{made[0]['syscode']}" and booking.recurrence is not None
    assert booking.recurrence.rule() == "FREQ=WEEKLY;COUNT=5"
    assert booking.recurrence.exdates == {datetime.fromisoformat(made[2]["start"])}
    assert booking.organizer is None and booking.required == frozenset() and booking.link is None

    await native.relink(booking, Link("cal-9", "0123456789abcdef", 1))
    stored = await sandbox.admin.reservations("AMS-1.01")
    assert [r["syscode"] for r in stored] == [r["syscode"] for r in made]  # updated in place, none re-created
    live = [r for r in stored if r["state"] != "UsrReservationCancelled"]
    assert {r["fields"]["FreeString1"] for r in live} == {booking.id}
    assert all("RRULE:FREQ=WEEKLY;COUNT=5" in r["fields"]["FreeText3"] for r in live)
    assert sorted(r["fields"]["FreeString2"] for r in live) == sorted(
        datetime.fromisoformat(r["start"]).strftime("%Y%m%dT%H%M%SZ") for r in live
    )
    assert stored[2]["fields"] == {}  # a cancelled reservation is history: left alone
    (again,) = (await native.read(window(start), full=True)).bookings
    assert (again.id, again.recurrence, again.link) == (
        booking.id,
        booking.recurrence,
        Link("cal-9", "0123456789abcdef", 1),
    )

    # from now on a Planon edit is an exception to RoomSync's series text, never a new inference
    await sandbox.admin.edit(
        made[1]["syscode"], start=start + timedelta(days=8), end=start + timedelta(days=8, hours=1)
    )
    (edited,) = (await native.read(window(start), full=True)).bookings
    assert edited.recurrence is not None and edited.recurrence.rule() == "FREQ=WEEKLY;COUNT=5"
    [override] = edited.recurrence.overrides
    assert override.start == start + timedelta(days=8) and override.original_start == start + timedelta(days=7)


async def test_a_native_series_is_looked_up_whole_by_its_id(native: PlanonStore, sandbox: PlanonSandbox) -> None:
    start = monday(hour=10)
    made = await sandbox.admin.book(
        "AMS-1.01", start, start + timedelta(hours=1), "Review", recurrence="FREQ=WEEKLY;COUNT=9"
    )
    found = await native.lookup([f"N{made[0]['syscode']}"])
    (booking,) = found.values()
    assert booking.recurrence is not None and booking.recurrence.rule() == "FREQ=WEEKLY;COUNT=9"
    assert booking.status is Status.CONFIRMED and len(booking.handle.ids()) == 9  # type: ignore[union-attr]


async def test_without_native_series_every_reservation_is_a_meeting_and_multi_room_is_never_tied(
    store: PlanonStore, native: PlanonStore, sandbox: PlanonSandbox
) -> None:
    start = monday(hour=10)
    await sandbox.admin.book("AMS-1.01", start, start + timedelta(hours=1), "Review", recurrence="FREQ=WEEKLY;COUNT=3")
    two = await sandbox.admin.book(["AMS-1.02", "AMS-2.01"], start, start + timedelta(hours=1), "Workshop")
    plain = (await store.read(window(start), full=True)).bookings
    assert len(plain) == 5 and all(b.recurrence is None and len(b.rooms) == 1 for b in plain)
    tied = (await native.read(window(start), full=True)).bookings
    assert sorted(len(b.rooms) for b in tied) == [1, 1, 1]  # the series is one; the two rooms stay two meetings
    assert {b.id for b in tied if b.recurrence is None} == {f"R{r['syscode']}" for r in two}


async def test_a_series_roomsync_cannot_infer_is_one_meeting_per_reservation_for_good(
    native: PlanonStore, sandbox: PlanonSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    start = datetime.combine(monday().date(), datetime.min.time(), tzinfo=AMS).replace(hour=10)
    made = await sandbox.admin.book(
        "AMS-1.02", start, start + timedelta(hours=1), "Twice a week", recurrence="FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4"
    )
    bookings = (await native.read(window(start), full=True)).bookings
    assert sorted(b.id for b in bookings) == sorted(f"R{r['syscode']}" for r in made)
    assert "follow no daily, weekly or monthly pattern" in caplog.text
    await native.relink(bookings[0], Link("cal-1", "0123456789abcdef", 1))  # synced as a meeting of its own
    again = (await native.read(window(start), full=True)).bookings
    assert sorted(b.id for b in again) == sorted(b.id for b in bookings)
    assert len(await native.lookup([bookings[0].id])) == 1


def test_the_series_link_value_is_a_booking_id_both_ways() -> None:
    from roomsync.connectors.planon.codec import native_key, native_value

    assert native_key(1001) == "N1001" and native_value("N1001") == 1001
    assert native_key(" S-17 ") == "N:S-17" and native_value("N:S-17") == "S-17"
    assert native_key(None) == native_key("") == native_key(True) == "" and native_value("R1001") is None
