"""Failures: Planon's business errors, warnings, server faults, garbled answers, bad records and lost answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from roomsync.connectors.base import BackendUnavailable, BookingRefused, InvalidResponse
from roomsync.connectors.planon import PlanonClient, PlanonConfigurationError, PlanonStore, UnansweredWarning
from roomsync.connectors.registry import StoreOptions
from roomsync.model import Booking, Link, Recurrence, Window
from roomsync.sandbox.planon import PlanonSandbox
from tests.planon.conftest import ROOMS, ClientFactory, monday, sent


def booking(
    start: datetime, minutes: int = 60, room: str = "AMS-1.01", peer: str = "peer-1", **extra: object
) -> Booking:
    return Booking(
        id="cal",
        subject="Refusable",
        start=start,
        end=start + timedelta(minutes=minutes),
        timezone="Europe/Amsterdam",
        link=Link(peer, "0123456789abcdef"),
        **({"rooms": frozenset({room})} | extra),  # type: ignore[arg-type]
    )


def window(start: datetime) -> Window:
    return Window(start - timedelta(days=1), start + timedelta(days=40))


@pytest.mark.parametrize(
    ("hour", "minutes", "room", "code", "words"),
    [
        (9, 60, "AMS-1.01", "PN_R00101", "not available"),  # taken by the kiosk booking below
        (9, 300, "AMS-2.01", "PN_R00102", "maximum reservation duration"),  # boardroom: 240 minutes
        (19, 120, "AMS-1.02", "PN_R00103", "not open"),
    ],
)
async def test_business_errors_become_booking_refused(
    store: PlanonStore, sandbox: PlanonSandbox, hour: int, minutes: int, room: str, code: str, words: str
) -> None:
    start = monday(hour=hour)
    await sandbox.admin.book("AMS-1.01", monday(), monday() + timedelta(hours=1), "Taken")
    with pytest.raises(BookingRefused) as refused:
        await store.create(booking(start, minutes, room))
    assert refused.value.code == code and words in str(refused.value)
    assert refused.value.reason == "BookingRefused"


async def test_a_refused_occurrence_rolls_back_a_new_series(store: PlanonStore, sandbox: PlanonSandbox) -> None:
    start = monday()
    await sandbox.admin.book("AMS-1.01", start + timedelta(weeks=2), start + timedelta(weeks=2, hours=1), "Taken")
    with pytest.raises(BookingRefused) as refused:
        await store.create(booking(start, recurrence=Recurrence.parse("FREQ=WEEKLY;COUNT=4")))
    assert refused.value.code == "PN_R00101"
    live = [r for r in await sandbox.admin.reservations() if r["state"] == "UsrReservationConfirmed"]
    assert [r["description"] for r in live] == ["Taken"]  # nothing of the refused series holds the room


async def test_unknown_warning_is_not_answered(store: PlanonStore, sandbox: PlanonSandbox) -> None:
    await sandbox.admin.fault("warning", "execute", code="PN_H07777", description="Catering cannot be delivered")
    with pytest.raises(UnansweredWarning) as refused:
        await store.create(booking(monday()))
    assert refused.value.code == "PN_H07777" and "safeWarnings" in str(refused.value)
    assert await sandbox.admin.reservations() == []


async def test_configured_safe_warning_is_answered(make_client: ClientFactory, sandbox: PlanonSandbox) -> None:
    client = make_client(
        safeWarnings=["PN_H00427", "PN_H00512"], reservationFields={"numberOfPeople": "NumberOfPeople"}
    )
    store = client.store(ROOMS, StoreOptions("default/rs"))
    from roomsync.model import people

    many = people([f"p{i}@example.com" for i in range(6)])  # 7 people in a room for 4: Planon warns PN_H00512
    await store.create(booking(monday(), room="AMS-1.02", required=many))
    assert sent(client, "execute/UsrReservationMeetingRoom/BomAdd") == 2  # warned, then answered
    assert len(await sandbox.admin.reservations()) == 1


async def test_capacity_warning_refuses_when_not_listed(make_client: ClientFactory) -> None:
    client = make_client(reservationFields={"numberOfPeople": "NumberOfPeople"})
    store = client.store(ROOMS, StoreOptions("default/rs"))
    from roomsync.model import people

    with pytest.raises(UnansweredWarning) as refused:
        await store.create(booking(monday(), room="AMS-1.02", required=people([f"p{i}@example.com" for i in range(6)])))
    assert refused.value.code == "PN_H00512"


async def test_server_errors_on_reads_are_retried(
    store: PlanonStore, client: PlanonClient, sandbox: PlanonSandbox
) -> None:
    await store.create(booking(monday()))
    await sandbox.admin.fault("status", "read", definition="UsrReservationMeetingRoom", status=503, times=2)
    snapshot = await store.read(window(monday()), full=True)
    assert len(snapshot.bookings) == 1 and snapshot.complete


async def test_persistent_server_errors_raise_backend_unavailable(store: PlanonStore, sandbox: PlanonSandbox) -> None:
    await sandbox.admin.fault("status", "read", definition="UsrReservationMeetingRoom", status=500, times=10)
    with pytest.raises(BackendUnavailable):
        await store.read(window(monday()), full=True)


async def test_writes_are_not_retried_blindly(store: PlanonStore, sandbox: PlanonSandbox) -> None:
    await sandbox.admin.fault("status", "execute", status=503)
    with pytest.raises(BackendUnavailable):
        await store.create(booking(monday()))
    assert (await sandbox.admin.requests())["execute/UsrReservationMeetingRoom/BomAdd"] == 1


@pytest.mark.parametrize("kind", ["malformed", "truncated"])
async def test_garbled_answers_are_retried(store: PlanonStore, sandbox: PlanonSandbox, kind: str) -> None:
    await store.create(booking(monday()))
    await sandbox.admin.fault(kind, "read", definition="UsrReservationMeetingRoom")
    assert len((await store.read(window(monday()), full=True)).bookings) == 1


async def test_garbled_answers_that_persist_raise_invalid_response(store: PlanonStore, sandbox: PlanonSandbox) -> None:
    await sandbox.admin.fault("truncated", "read", definition="UsrReservationMeetingRoom", times=5)
    with pytest.raises(InvalidResponse):
        await store.read(window(monday()), full=True)


async def test_one_failed_chunk_makes_only_its_rooms_unreadable(
    make_client: ClientFactory, sandbox: PlanonSandbox
) -> None:
    client = make_client(chunkSize=2, readAttempts=1)
    store = client.store(ROOMS, StoreOptions("default/rs"))
    start = monday()
    await sandbox.admin.book("LON-3.01", start, start + timedelta(hours=1), "London")
    await sandbox.admin.fault("status", "read", definition="UsrReservationMeetingRoom", status=502)
    snapshot = await store.read(window(start), full=True)
    assert len(snapshot.unreadable_rooms) == 2 and not snapshot.complete
    assert snapshot.unreadable_rooms < {r.planon for r in ROOMS}


async def test_slow_answers_time_out_as_backend_unavailable(make_client: ClientFactory, sandbox: PlanonSandbox) -> None:
    client = make_client(requestTimeoutSeconds=0.2, readAttempts=1)
    store = client.store(ROOMS, StoreOptions("default/rs"))
    await client.directory.units([r.planon for r in ROOMS])  # master data first, so the slow one is the window read
    await sandbox.admin.fault("slow", "read", definition="UsrReservationMeetingRoom", delay=1.0)
    with pytest.raises(BackendUnavailable):
        await store.read(window(monday()), full=True)


async def test_a_bad_reservation_is_skipped_not_fatal(store: PlanonStore, sandbox: PlanonSandbox) -> None:
    start = monday()
    good = await sandbox.admin.book("AMS-1.01", start, start + timedelta(hours=1), "Good")
    bad = await sandbox.admin.book("AMS-1.01", start + timedelta(hours=2), start + timedelta(hours=3), "Bad")
    await store.create(booking(start, room="AMS-1.02", recurrence=Recurrence.parse("FREQ=WEEKLY;COUNT=2")))
    series = await sandbox.admin.reservations("AMS-1.02")
    await sandbox.admin.corrupt(bad[0]["syscode"], "BeginDateTime", "yesterday-ish")
    await sandbox.admin.edit(series[0]["syscode"], fields={"FreeText3": "RRULE:FREQ=SOMETIMES"})
    snapshot = await store.read(window(start), full=True)
    assert [b.subject for b in snapshot.bookings] == ["Good"]
    assert snapshot.bookings[0].id == f"R{good[0]['syscode']}"
    skipped = {(s.room, s.native_id) for s in snapshot.skipped}
    # the whole series is skipped: shown without one occurrence it would look like that occurrence was cancelled
    assert skipped == {("AMS-1.01", str(bad[0]["syscode"]))} | {("AMS-1.02", str(r["syscode"])) for r in series}
    assert all(s.reason for s in snapshot.skipped) and not snapshot.complete


async def test_empty_read_glitch_is_passed_on_for_the_engine_to_judge(
    store: PlanonStore, sandbox: PlanonSandbox
) -> None:
    await store.create(booking(monday()))
    await sandbox.admin.fault("empty", "read", definition="UsrReservationMeetingRoom")
    assert (await store.read(window(monday()), full=True)).bookings == ()


async def test_unknown_definition_is_a_configuration_error(make_client: ClientFactory) -> None:
    client = make_client(definitions={"reservation": "UsrReservationTypo"})
    with pytest.raises(PlanonConfigurationError) as failed:
        await client.store(ROOMS, StoreOptions("default/rs")).read(window(monday()), full=True)
    assert "spec.planon" in str(failed.value)


async def test_unknown_room_code_is_unreadable_and_refused_on_write(client: PlanonClient) -> None:
    from roomsync.model import RoomPair

    store = client.store([*ROOMS, RoomPair("NOPE-9", "nope@example.com")], StoreOptions("default/rs"))
    snapshot = await store.read(window(monday()), full=True)
    assert snapshot.unreadable_rooms == frozenset({"NOPE-9"})
    with pytest.raises(BookingRefused) as refused:
        await store.create(booking(monday(), room="NOPE-9"))
    assert refused.value.code == "RS_UNKNOWN_UNIT"


async def test_create_is_idempotent_when_the_answer_is_lost(store: PlanonStore, sandbox: PlanonSandbox) -> None:
    start = monday()
    desired = booking(
        start, recurrence=Recurrence.parse("FREQ=WEEKLY;COUNT=3"), rooms=frozenset({"AMS-1.01", "AMS-1.02"})
    )
    # the second BomAdd is committed in Planon but its answer never arrives; the fifth fails outright
    await sandbox.admin.fault("lost", "execute", skip=1)
    await sandbox.admin.fault("status", "execute", skip=3, status=503)
    with pytest.raises(BackendUnavailable):
        await store.create(desired)
    assert len(await sandbox.admin.reservations()) == 5
    created = await store.create(desired)  # the retry completes the meeting instead of starting another
    again = await store.create(desired)  # and a retry after success changes nothing
    assert again.id == created.id
    stored = await sandbox.admin.reservations()
    assert len(stored) == 6 and {r["fields"]["FreeString1"] for r in stored} == {created.id}
    assert {r["state"] for r in stored} == {"UsrReservationConfirmed"}
    (read,) = (await store.read(window(start), full=True)).bookings
    assert read.id == created.id and read.rooms == desired.rooms


async def test_lookup_answers_with_now_independent_results(store: PlanonStore) -> None:
    created = await store.create(booking(monday()))
    assert (await store.lookup([created.id]))[created.id].start == monday()
    assert datetime.now(UTC) < monday()
