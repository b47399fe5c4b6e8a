"""No lost updates: a write carries the change time its reservations were read at, and a person's edit made between
RoomSync's read and its write is never overwritten (``PreconditionFailed``, nothing written)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from roomsync.connectors.base import NotFound, PreconditionFailed
from roomsync.connectors.planon import PlanonStore
from roomsync.connectors.registry import StoreOptions
from roomsync.model import Booking, Link, Person, Recurrence, Window, changed_fields
from roomsync.sandbox.planon import PlanonSandbox
from tests.planon.conftest import ROOMS, ClientFactory, monday, sent

CHANGE_TIME = {"reservationFields": {"changedAt": "SysChangeDateTime"}}


def meeting(**changes: object) -> Booking:
    start = monday()
    base = Booking(
        id="cal-1",
        subject="Planning",
        start=start,
        end=start + timedelta(hours=1),
        timezone="Europe/Amsterdam",
        organizer=Person("anna.devries@example.com"),
        rooms=frozenset({"AMS-1.01"}),
        link=Link("cal-1", "0123456789abcdef", 1),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def window() -> Window:
    return Window(monday() - timedelta(days=1), monday() + timedelta(days=60))


@pytest.fixture
def guarded(make_client: ClientFactory) -> PlanonStore:
    return make_client(**CHANGE_TIME).store(ROOMS, StoreOptions("default/rs"))


async def read_one(store: PlanonStore) -> Booking:
    (booking,) = (await store.read(window(), full=True)).bookings
    return booking


async def test_bookings_carry_the_change_time_of_each_reservation_as_their_version(
    guarded: PlanonStore, store: PlanonStore
) -> None:
    await guarded.create(meeting(rooms=frozenset({"AMS-1.01", "AMS-1.02"})))
    read = await read_one(guarded)
    assert read.handle is not None and set(read.handle.versions) == set(read.handle.ids())
    assert all('"date"' in v and '"time"' in v for v in read.handle.versions.values())  # as Planon sent it
    unguarded = await read_one(store)  # without a change-time field there is nothing to carry
    assert unguarded.handle is not None and unguarded.handle.versions == {}
    assert not store.capabilities.incremental_reads and guarded.capabilities.incremental_reads


@pytest.mark.parametrize("operation", ["update", "cancel", "relink"])
async def test_a_person_edit_after_the_read_refuses_the_write_and_survives(
    guarded: PlanonStore, sandbox: PlanonSandbox, operation: str
) -> None:
    await guarded.create(meeting())
    read = await read_one(guarded)
    (reservation,) = await sandbox.admin.reservations("AMS-1.01")
    await sandbox.admin.edit(reservation["syscode"], subject="Renamed by a person")
    with pytest.raises(PreconditionFailed, match=str(reservation["syscode"])):
        if operation == "update":
            desired = replace(read, start=read.start + timedelta(hours=2), end=read.end + timedelta(hours=2))
            await guarded.update(read, desired, changed_fields(read, desired))
        elif operation == "cancel":
            await guarded.cancel(read, "cancelled in Calendar")
        else:
            await guarded.relink(read, Link("cal-1", "fedcba9876543210", 2))
    (after,) = await sandbox.admin.reservations("AMS-1.01")
    assert (after["description"], after["start"], after["state"]) == (
        "Renamed by a person",
        reservation["start"],
        "UsrReservationConfirmed",
    )
    assert after["fields"]["FreeText1"] == reservation["fields"]["FreeText1"]  # not even the link was written


async def test_an_edit_landing_between_the_check_and_the_write_is_caught_by_the_filter(
    guarded: PlanonStore, sandbox: PlanonSandbox, make_client: ClientFactory
) -> None:
    """The change time is part of the write's own filter: an edit that lands after the store's last read and before
    its update request matches nothing, Planon writes nothing, and no extra request was needed to know it."""
    await guarded.create(meeting())
    read = await read_one(guarded)
    (reservation,) = await sandbox.admin.reservations("AMS-1.01")
    await sandbox.admin.fault("person", "update", edit={"syscode": reservation["syscode"], "subject": "Person"})
    desired = replace(read, subject="RoomSync")
    with pytest.raises(PreconditionFailed):
        await guarded.update(read, desired, ["subject"])
    (after,) = await sandbox.admin.reservations("AMS-1.01")
    assert after["description"] == "Person"


async def test_a_series_write_is_refused_before_any_occurrence_is_written(
    guarded: PlanonStore, sandbox: PlanonSandbox
) -> None:
    await guarded.create(meeting(recurrence=Recurrence.parse("FREQ=WEEKLY;COUNT=4")))
    read = await read_one(guarded)
    rows = await sandbox.admin.reservations("AMS-1.01")
    await sandbox.admin.cancel(rows[2]["syscode"])  # a person cancels one occurrence
    with pytest.raises(PreconditionFailed, match=str(rows[2]["syscode"])):
        await guarded.update(read, replace(read, subject="Renamed"), ["subject"])
    assert {r["description"] for r in await sandbox.admin.reservations("AMS-1.01")} == {"Planning"}


async def test_a_meeting_that_is_gone_is_not_found(guarded: PlanonStore, sandbox: PlanonSandbox) -> None:
    created = await guarded.create(meeting())
    read = await read_one(guarded)
    await guarded.cancel(read, "cancelled in Calendar")
    with pytest.raises(NotFound):
        await guarded.relink(replace(created, id=read.id), Link("cal-1", "fedcba9876543210", 2))


async def test_without_a_change_time_writes_are_best_effort(store: PlanonStore, sandbox: PlanonSandbox) -> None:
    """Documented in docs/planon.md: without ``reservationFields.changedAt`` Planon has nothing to compare, so a
    person's edit made between read and write is overwritten by the write."""
    await store.create(meeting())
    read = await read_one(store)
    (reservation,) = await sandbox.admin.reservations("AMS-1.01")
    await sandbox.admin.edit(reservation["syscode"], subject="Renamed by a person")
    await store.update(read, replace(read, subject="RoomSync's"), ["subject"])
    (after,) = await sandbox.admin.reservations("AMS-1.01")
    assert after["description"] == "RoomSync's"


async def test_writes_of_reservations_read_at_different_times_go_in_one_request_per_change_time(
    guarded: PlanonStore, sandbox: PlanonSandbox, make_client: ClientFactory
) -> None:
    await guarded.create(meeting(recurrence=Recurrence.parse("FREQ=WEEKLY;COUNT=3")))
    rows = await sandbox.admin.reservations("AMS-1.01")
    await sandbox.admin.edit(rows[0]["syscode"], subject="Planning (first)")  # its change time moves on
    read = await read_one(guarded)
    client = guarded.client
    client.requests.by_room.clear()
    assert read.recurrence is not None
    renamed = replace(read, subject="Renamed", recurrence=read.recurrence.with_exceptions())
    await guarded.update(read, renamed, ["subject", "recurrence"])
    assert sent(client, "update/UsrReservationMeetingRoom") == 2  # two change times, two guarded requests
    assert {r["description"] for r in await sandbox.admin.reservations("AMS-1.01")} == {"Renamed"}
    assert client.requests.by_room[("AMS-1.01", "update/UsrReservationMeetingRoom", "200")] == 2
