"""Time zones: Planon wall-clock values in the API user's zone, properties in their own zone, DST inside a series."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from roomsync.connectors.planon import PlanonClient
from roomsync.connectors.registry import StoreOptions
from roomsync.model import Booking, Person, Recurrence, RoomPair, Window, fingerprint
from roomsync.sandbox.planon import PlanonSandbox
from tests.planon.conftest import AMS, ROOMS, ClientFactory

NEW_YORK = ZoneInfo("America/New_York")


def next_dst_change(tz: ZoneInfo, after: date) -> date:
    """The first day after ``after`` whose UTC offset differs from the day before (a DST switch)."""
    day = after
    while True:
        nxt = day + timedelta(days=1)
        if (
            datetime(nxt.year, nxt.month, nxt.day, 12, tzinfo=tz).utcoffset()
            != datetime(day.year, day.month, day.day, 12, tzinfo=tz).utcoffset()
        ):
            return nxt
        day = nxt


async def seed_new_york_user(sandbox: PlanonSandbox) -> None:
    await sandbox.admin.seed(
        {"users": [{"account": "ny", "timeZone": "America/New_York", "accessKeys": [{"key": "ny-key"}]}]}
    )


async def test_wall_clock_is_written_in_the_api_users_zone(make_client: ClientFactory, sandbox: PlanonSandbox) -> None:
    await seed_new_york_user(sandbox)
    from roomsync.connectors.planon import open_client

    client = open_client(
        sandbox.connection_spec()
        | {"auth": {"accessKey": {"secretRef": {"name": "ny", "key": "key"}}}, "timeZone": "America/New_York"},
        lambda name, key: "ny-key",
    )
    try:
        store = client.store(ROOMS, StoreOptions("default/rs"))
        start = datetime(2031, 3, 3, 9, 0, tzinfo=AMS)  # a Monday, 09:00 in Amsterdam = 03:00 in New York
        booking = Booking(
            id="x", subject="Zones", start=start, end=start + timedelta(hours=1), rooms=frozenset({"AMS-1.01"})
        )
        await store.create(booking)
        (stored,) = await sandbox.admin.reservations()
        assert datetime.fromisoformat(stored["start"]) == start  # the same instant in Planon
        # over the API the New York user sees New York wall time, the London user London wall time
        import aiohttp

        async with aiohttp.ClientSession() as session:
            for key, expected in (("ny-key", "03:00:00"), ("sandbox-access-key", "08:00:00")):
                async with session.post(
                    f"{sandbox.url}/read/UsrReservationMeetingRoom",
                    json={},
                    headers={"Authorization": f"PLANONKEY accesskey={key}"},
                ) as resp:
                    (record,) = (await resp.json())["records"]
                    assert record["BeginDateTime"] == {"date": "2031-03-03", "time": expected}
        window = Window(start - timedelta(days=1), start + timedelta(days=1))
        (read,) = (await store.read(window, full=True)).bookings
        assert read.start == start and read.timezone == "Europe/Amsterdam"
    finally:
        await client.aclose()


async def test_a_weekly_series_keeps_its_local_time_across_dst(client: PlanonClient, sandbox: PlanonSandbox) -> None:
    """Property in Amsterdam, API user in London (the demo key): both switch DST, on the same day."""
    switch = next_dst_change(AMS, datetime.now(AMS).date() + timedelta(days=7))
    first = switch - timedelta(days=14)
    first += timedelta(days=(7 - first.weekday()) % 7)  # a Monday two or so weeks before the switch
    start = datetime(first.year, first.month, first.day, 9, 30, tzinfo=AMS)
    rule = Recurrence.parse("FREQ=WEEKLY;BYDAY=MO;COUNT=6")
    series = Booking(
        id="cal-dst",
        subject="Weekly 09:30",
        start=start,
        end=start + timedelta(hours=1),
        timezone="Europe/Amsterdam",
        organizer=Person("anna.devries@example.com"),
        rooms=frozenset({"AMS-1.01"}),
        recurrence=rule,
    )
    store = client.store(ROOMS, StoreOptions("default/rs"))
    await store.create(series)
    stored = await sandbox.admin.reservations()
    local_times = {datetime.fromisoformat(r["start"]).astimezone(AMS).strftime("%H:%M") for r in stored}
    offsets = {datetime.fromisoformat(r["start"]).astimezone(AMS).utcoffset() for r in stored}
    assert local_times == {"09:30"} and len(offsets) == 2  # one wall time, two UTC offsets: the series spans DST
    window = Window(start - timedelta(days=1), start + timedelta(weeks=7))
    (read,) = (await store.read(window, full=True)).bookings
    assert read.recurrence is not None and read.recurrence.exdates == frozenset() and read.recurrence.overrides == ()
    assert fingerprint(read, window) == fingerprint(series, window)


async def test_kiosk_series_in_amsterdam_read_by_a_utc_service_account(
    make_client: ClientFactory, sandbox: PlanonSandbox
) -> None:
    """The OIDC demo client works in UTC; a native series made at an Amsterdam kiosk across DST ("Make recurrent",
    daily on weekdays) is read as one series at 08:00 Amsterdam time, its weekends exception dates."""
    switch = next_dst_change(AMS, datetime.now(AMS).date() + timedelta(days=7))
    first = switch - timedelta(days=10)
    start = datetime(first.year, first.month, first.day, 8, 0, tzinfo=AMS)
    while start.weekday() > 3:
        start += timedelta(days=1)
    await sandbox.admin.book(
        "AMS-1.02", start, start + timedelta(hours=2), "Daily", recurrence="FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=10"
    )
    client = make_client("oidc", reservationFields={"nativeSeries": "RecurrentReservationRef"})
    store = client.store(ROOMS, StoreOptions("default/rs"))
    window = Window(start - timedelta(days=1), start + timedelta(days=30))
    (read,) = (await store.read(window, full=True)).bookings
    assert read.recurrence is not None and read.recurrence.rule().startswith("FREQ=DAILY;COUNT=")
    assert read.recurrence.overrides == () and {d.astimezone(AMS).weekday() for d in read.recurrence.exdates} == {5, 6}
    occurrences = read.recurrence.occurrences(read.start, read.duration, read.timezone, window.start, window.end)
    assert len(occurrences) == 10
    assert {o.start.astimezone(AMS).hour for o in occurrences} == {8}
    assert {o.start.astimezone(UTC).hour for o in occurrences} == {6, 7}


async def test_property_zone_is_the_booking_zone(client: PlanonClient, sandbox: PlanonSandbox) -> None:
    start = datetime(2031, 3, 4, 10, 0, tzinfo=ZoneInfo("Europe/London"))
    await sandbox.admin.book("LON-3.01", start, start + timedelta(hours=1), "London")
    store = client.store([RoomPair("LON-3.01", "lon@example.com")], StoreOptions("default/rs"))
    (read,) = (await store.read(Window(start - timedelta(days=1), start + timedelta(days=1)), full=True)).bookings
    assert read.timezone == "Europe/London" and read.start == start
