"""Create, read, update, cancel and look up bookings through the Planon connector, and what people do in Planon."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from roomsync.connectors.base import BookingStore, NotFound
from roomsync.connectors.planon import PlanonClient, PlanonStore
from roomsync.model import (
    Booking,
    Link,
    OccurrenceOverride,
    Person,
    Recurrence,
    Status,
    Window,
    changed_fields,
    fingerprint,
    people,
)
from roomsync.sandbox.planon import PlanonSandbox
from tests.planon.conftest import monday, sent


def meeting(start: datetime, **changes: object) -> Booking:
    base = Booking(
        id="cal-1",
        subject="Quarterly planning",
        start=start,
        end=start + timedelta(hours=1),
        timezone="Europe/Amsterdam",
        organizer=Person("anna.devries@example.com"),
        required=people(["ben.smith@example.com", "guest@partner.example"]),
        optional=people(["carla.jansen@example.com"]),
        rooms=frozenset({"AMS-1.01"}),
        link=Link("AAMkAGI2-cal-1", "0123456789abcdef", 3),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def window_around(start: datetime, days: int = 70) -> Window:
    return Window(start - timedelta(days=1), start + timedelta(days=days))


async def read_one(store: PlanonStore, window: Window) -> Booking:
    snapshot = await store.read(window, full=True)
    assert snapshot.complete, (snapshot.skipped, snapshot.unreadable_rooms)
    (booking,) = snapshot.bookings
    return booking


async def test_store_implements_the_port(store: PlanonStore) -> None:
    assert isinstance(store, BookingStore)
    assert store.side.value == "Planon" and store.backend == "planon"


async def test_every_synced_field_round_trips(store: PlanonStore, sandbox: PlanonSandbox) -> None:
    start = monday()
    desired = meeting(start, rooms=frozenset({"AMS-1.01", "AMS-1.02"}))
    created = await store.create(desired)
    assert created.id != desired.id and set(created.handle.items) == {"AMS-1.01", "AMS-1.02"}
    read = await read_one(store, window_around(start))
    assert read.id == created.id
    assert changed_fields(read, desired) == []
    assert fingerprint(read) == fingerprint(desired)
    assert read.link == desired.link and read.organizer is not None and read.organizer.name == "Anna de Vries"
    assert read.status is Status.CONFIRMED
    # one reservation per unit, tied by one meeting id, requestor is the Planon person
    stored = await sandbox.admin.reservations()
    assert sorted(r["unit"] for r in stored) == ["AMS-1.01", "AMS-1.02"]
    assert {r["fields"]["FreeString1"] for r in stored} == {created.id}
    assert {r["requestor"] for r in stored} == {"anna.devries@example.com"}
    assert stored[0]["fields"]["FreeText2"] == (
        "Required: ben.smith@example.com, guest@partner.example\nOptional: carla.jansen@example.com"
    )
    assert stored[0]["fields"]["FreeText1"] == desired.link.encode()  # type: ignore[union-attr]


async def test_unknown_organizer_is_kept_as_external_requestor(store: PlanonStore, sandbox: PlanonSandbox) -> None:
    start = monday()
    desired = meeting(start, organizer=Person("Visitor@Partner.Example"))
    await store.create(desired)
    (stored,) = await sandbox.admin.reservations()
    assert stored["requestor"] is None and stored["externalRequestor"] == "visitor@partner.example"
    read = await read_one(store, window_around(start))
    assert read.organizer == Person("visitor@partner.example")


async def test_update_changes_time_subject_attendees_and_rooms(store: PlanonStore, sandbox: PlanonSandbox) -> None:
    start = monday()
    created = await store.create(meeting(start, rooms=frozenset({"AMS-1.01", "AMS-1.02"})))
    desired = meeting(
        start + timedelta(hours=2),
        subject="Planning (moved)",
        rooms=frozenset({"AMS-1.01", "AMS-2.01"}),
        required=people(["ben.smith@example.com"]),
        link=Link("AAMkAGI2-cal-1", "fedcba9876543210", 4),
    )
    updated = await store.update(created, desired, changed_fields(created, desired))
    assert updated.id == created.id
    read = await read_one(store, window_around(start))
    assert read.id == created.id and changed_fields(read, desired) == [] and read.link == desired.link
    states = {(r["unit"], r["state"]) for r in await sandbox.admin.reservations()}
    assert states == {
        ("AMS-1.01", "UsrReservationConfirmed"),
        ("AMS-1.02", "UsrReservationCancelled"),  # the room removed from the meeting keeps its history
        ("AMS-2.01", "UsrReservationConfirmed"),
    }


async def test_update_sends_only_changed_fields_in_one_request(
    store: PlanonStore, client: PlanonClient, sandbox: PlanonSandbox
) -> None:
    start = monday()
    created = await store.create(meeting(start, rooms=frozenset({"AMS-1.01", "AMS-1.02", "AMS-2.01"})))
    client.requests.by_room.clear()
    await store.update(created, replace(created, subject="Renamed"), ["subject"])
    assert sent(client, "update/UsrReservationMeetingRoom") == 1  # three reservations, one request
    assert {r["description"] for r in await sandbox.admin.reservations()} == {"Renamed"}


async def test_cancel_changes_state_and_reads_back_cancelled(store: PlanonStore, sandbox: PlanonSandbox) -> None:
    start = monday()
    created = await store.create(meeting(start, rooms=frozenset({"AMS-1.01", "AMS-1.02"})))
    await store.cancel(created, "cancelled in Outlook")
    assert {r["state"] for r in await sandbox.admin.reservations()} == {"UsrReservationCancelled"}
    read = await read_one(store, window_around(start))
    assert read.status is Status.CANCELLED and read.id == created.id
    # cancelling again is harmless; a meeting that never existed is NotFound
    await store.cancel(created, "again")
    with pytest.raises(NotFound):
        await store.cancel(replace(created, id="rs-nope"), "x")


async def test_cancel_by_delete_when_configured(make_client, sandbox: PlanonSandbox) -> None:  # type: ignore[no-untyped-def]
    from roomsync.connectors.registry import StoreOptions
    from tests.planon.conftest import ROOMS

    client = make_client(cancelMode="Delete")
    store = client.store(ROOMS, StoreOptions("default/rs"))
    created = await store.create(meeting(monday()))
    await store.cancel(created, "gone")
    assert await sandbox.admin.reservations() == []
    assert sent(client, "delete/UsrReservationMeetingRoom") == 2  # the PN_H00427 warning, then answered


async def test_relink_writes_only_the_link(store: PlanonStore, sandbox: PlanonSandbox) -> None:
    created = await store.create(meeting(monday(), rooms=frozenset({"AMS-1.01", "AMS-1.02"})))
    link = Link("new-peer", "aaaaaaaaaaaaaaaa", 9)
    await store.relink(created, link)
    assert {r["fields"]["FreeText1"] for r in await sandbox.admin.reservations()} == {link.encode()}
    found = await store.lookup([created.id])
    assert found[created.id].link == link


async def test_lookup_finds_meetings_outside_any_window(store: PlanonStore) -> None:
    a = await store.create(meeting(monday(2)))
    b = await store.create(meeting(monday(30), link=Link("other", "0" * 16)))
    found = await store.lookup([a.id, b.id, "rs-missing", "R99999"])
    assert set(found) == {a.id, b.id}
    assert found[b.id].start == monday(30)


async def test_bookings_made_at_a_planon_kiosk_are_read(store: PlanonStore, sandbox: PlanonSandbox) -> None:
    start = monday(hour=13)
    (made,) = await sandbox.admin.book(
        "AMS-1.02", start, start + timedelta(minutes=45), "Stand-up", requestor="ben.smith@example.com"
    )
    read = await read_one(store, window_around(start))
    assert read.id == f"R{made['syscode']}"
    assert (read.subject, read.start, read.end, read.rooms) == (
        "Stand-up",
        start,
        start + timedelta(minutes=45),
        frozenset({"AMS-1.02"}),
    )
    assert read.organizer == Person("ben.smith@example.com") and read.link is None
    assert read.timezone == "Europe/Amsterdam"  # the property's zone
    # the engine can update it like any other: the meeting id is written so the group keeps its identity
    desired = replace(read, rooms=frozenset({"AMS-1.02", "AMS-1.01"}), link=Link("peer", "1" * 16))
    await store.update(read, desired, ["rooms"])
    again = await read_one(store, window_around(start))
    assert again.id == read.id and again.rooms == desired.rooms


async def test_a_person_cancelling_one_room_removes_it_from_the_meeting(
    store: PlanonStore, sandbox: PlanonSandbox
) -> None:
    start = monday()
    created = await store.create(meeting(start, rooms=frozenset({"AMS-1.01", "AMS-1.02"})))
    (in_102,) = await sandbox.admin.reservations("AMS-1.02")
    await sandbox.admin.cancel(in_102["syscode"])
    read = await read_one(store, window_around(start))
    assert read.id == created.id and read.rooms == frozenset({"AMS-1.01"})


async def test_recurring_series_is_one_booking_with_exceptions(store: PlanonStore, sandbox: PlanonSandbox) -> None:
    start = monday()
    series = meeting(
        start, recurrence=Recurrence.parse("FREQ=WEEKLY;BYDAY=MO;COUNT=6"), rooms=frozenset({"AMS-1.01", "AMS-1.02"})
    )
    created = await store.create(series)
    assert len(await sandbox.admin.reservations()) == 12  # one reservation per occurrence and room
    window = window_around(start)
    read = await read_one(store, window)
    assert read.id == created.id and fingerprint(read, window) == fingerprint(series, window)
    # at the kiosk: cancel week 3 in both rooms, move week 4 by an hour, rename week 5
    rows = {(r["unit"], r["start"]): r for r in await sandbox.admin.reservations()}
    week = timedelta(weeks=1)
    for unit in ("AMS-1.01", "AMS-1.02"):
        await sandbox.admin.cancel(rows[(unit, iso(start + 2 * week))]["syscode"])
        r4 = rows[(unit, iso(start + 3 * week))]
        await sandbox.admin.edit(
            r4["syscode"], start=start + 3 * week + timedelta(hours=1), end=start + 3 * week + timedelta(hours=2)
        )
        await sandbox.admin.edit(rows[(unit, iso(start + 4 * week))]["syscode"], subject="Planning - demo day")
    read = await read_one(store, window)
    assert read.recurrence is not None
    assert read.recurrence.exdates == frozenset({start + 2 * week})
    assert read.recurrence.overrides == (
        OccurrenceOverride(
            start + 3 * week, start + 3 * week + timedelta(hours=1), start + 3 * week + timedelta(hours=2)
        ),
        OccurrenceOverride(
            start + 4 * week, start + 4 * week, start + 4 * week + timedelta(hours=1), "Planning - demo day"
        ),
    )
    assert read.subject == "Quarterly planning" and read.recurrence.rule() == "FREQ=WEEKLY;BYDAY=MO;COUNT=6"
    # writing the same exceptions from the calendar side changes nothing in Planon
    before = await sandbox.admin.reservations()
    await store.update(read, read, [])
    assert await sandbox.admin.reservations() == before


async def test_series_exceptions_written_by_the_connector(store: PlanonStore, sandbox: PlanonSandbox) -> None:
    start = monday()
    week = timedelta(weeks=1)
    rule = Recurrence.parse("FREQ=WEEKLY;COUNT=4")
    created = await store.create(meeting(start, recurrence=rule))
    desired = replace(
        created,
        recurrence=rule.with_exceptions(
            exdates=[start + week],
            overrides=[
                OccurrenceOverride(
                    start + 2 * week,
                    start + 2 * week + timedelta(hours=3),
                    start + 2 * week + timedelta(hours=4),
                    "Moved",
                )
            ],
        ),
    )
    await store.update(created, desired, ["recurrence"])
    window = window_around(start)
    read = await read_one(store, window)
    assert fingerprint(read, window) == fingerprint(desired, window)
    live = [r for r in await sandbox.admin.reservations() if r["state"] == "UsrReservationConfirmed"]
    assert len(live) == 3


async def test_series_time_change_moves_reservations_in_place(store: PlanonStore, sandbox: PlanonSandbox) -> None:
    start = monday()
    created = await store.create(meeting(start, recurrence=Recurrence.parse("FREQ=WEEKLY;COUNT=3")))
    syscodes = sorted(r["syscode"] for r in await sandbox.admin.reservations())
    moved = replace(created, start=start + timedelta(hours=1), end=start + timedelta(hours=2))
    await store.update(created, moved, ["start", "end"])
    after = await sandbox.admin.reservations()
    assert sorted(r["syscode"] for r in after) == syscodes  # updated, not cancelled and re-created
    window = window_around(start)
    assert fingerprint(await read_one(store, window), window) == fingerprint(moved, window)


@pytest.mark.parametrize("changed_at", ["", "SysChangeDateTime"])
async def test_a_shortened_series_takes_its_shape_from_live_reservations_only(
    make_client,
    sandbox: PlanonSandbox,
    changed_at: str,  # type: ignore[no-untyped-def]
) -> None:
    """The three dropped occurrences are cancelled with the rule they had (COUNT=5) and are the newest rows: they
    must not give the series its shape, or the next cycle sees a five-week series and books them again."""
    from roomsync.connectors.registry import StoreOptions
    from tests.planon.conftest import ROOMS

    store = make_client(reservationFields={"changedAt": changed_at}).store(ROOMS, StoreOptions("default/rs"))
    start = monday()
    created = await store.create(meeting(start, recurrence=Recurrence.parse("FREQ=WEEKLY;COUNT=5")))
    shortened = replace(created, recurrence=Recurrence.parse("FREQ=WEEKLY;COUNT=2"))
    await store.update(created, shortened, ["recurrence"])
    rows = await sandbox.admin.reservations()
    assert [r["state"] for r in rows] == ["UsrReservationConfirmed"] * 2 + ["UsrReservationCancelled"] * 3
    assert all("COUNT=5" in r["fields"]["FreeText3"] for r in rows[2:])  # history keeps the old rule
    window = window_around(start)
    read = await read_one(store, window)
    assert read.recurrence is not None and read.recurrence.rule() == "FREQ=WEEKLY;COUNT=2"
    assert read.recurrence.exdates == frozenset() and fingerprint(read, window) == fingerprint(shortened, window)


async def test_open_ended_series_is_refused(store: PlanonStore) -> None:
    from roomsync.connectors.base import BookingRefused

    with pytest.raises(BookingRefused) as refused:
        await store.create(meeting(monday(), recurrence=Recurrence.parse("FREQ=WEEKLY")))
    assert refused.value.code == "RS_UNLIMITED_SERIES"


async def test_all_day_booking_round_trips(make_client, sandbox: PlanonSandbox) -> None:  # type: ignore[no-untyped-def]
    from roomsync.connectors.registry import StoreOptions
    from tests.planon.conftest import AMS

    await sandbox.admin.seed({"units": [{"code": "AMS-0.01", "property": "AMS", "maxMinutes": None, "opening": None}]})
    from roomsync.model import RoomPair

    store = make_client().store([RoomPair("AMS-0.01", "ams-0.01@example.com")], StoreOptions("default/rs"))
    day = monday().date()
    start = datetime(day.year, day.month, day.day, tzinfo=AMS)
    desired = meeting(start, end=start + timedelta(days=1), all_day=True, rooms=frozenset({"AMS-0.01"}))
    await store.create(desired)
    read = await read_one(store, window_around(start))
    assert read.all_day and fingerprint(read) == fingerprint(desired)
