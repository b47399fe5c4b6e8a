"""Room discovery (``Client.rooms()``) and the request counts metrics and benchmarks read (``Client.requests``)."""

from __future__ import annotations

from datetime import timedelta

from roomsync.connectors.base import RoomInfo
from roomsync.connectors.planon import PlanonClient, PlanonStore
from roomsync.model import Booking, Window
from roomsync.sandbox.planon import PlanonSandbox
from tests.planon.conftest import ClientFactory, monday


async def test_rooms_lists_every_reservation_unit_with_its_building_and_zone(
    client: PlanonClient, make_client: ClientFactory, sandbox: PlanonSandbox
) -> None:
    assert client.capabilities.room_discovery
    rooms = await client.rooms()
    assert [r.key for r in rooms] == ["AMS-1.01", "AMS-1.02", "AMS-2.01", "LON-3.01"]
    assert rooms[2] == RoomInfo(
        key="AMS-2.01",
        name="Amsterdam 2.01 Boardroom",
        email=None,  # the tenant keeps no mailbox on its units unless told where
        capacity=20,
        building="Amsterdam HQ",
        time_zone="Europe/Amsterdam",
    )
    assert rooms[3].building == "London office" and rooms[3].time_zone == "Europe/London"

    await sandbox.admin.seed(
        {"units": [{"code": "AMS-0.01", "name": "Lobby pod", "property": "AMS", "email": "Lobby-Pod@Example.com"}]}
    )
    with_mail = make_client(reservationUnitFields={"email": "Email"})
    (pod,) = [r for r in await with_mail.rooms() if r.key == "AMS-0.01"]
    assert pod.email == "lobby-pod@example.com"  # so `roomsync rooms` can pair it with the mailbox


async def test_requests_are_counted_per_room_operation_and_status(
    client: PlanonClient, store: PlanonStore, sandbox: PlanonSandbox
) -> None:
    start = monday()
    booking = Booking(
        "cal-1", "Counted", start, start + timedelta(hours=1), "Europe/Amsterdam", rooms=frozenset({"AMS-1.02"})
    )
    await store.create(booking)
    await store.read(Window(start - timedelta(days=1), start + timedelta(days=1)), full=True)
    counts = client.requests
    assert counts.by_room[("AMS-1.02", "execute/UsrReservationMeetingRoom/BomAdd", "201")] == 1
    assert counts.by_room[("", "read/UsrReservationMeetingRoom", "200")] == 1  # the window read of four units
    assert counts.total("AMS-1.02") == 1 and counts.total() == sum(counts.by_room.values())
    await sandbox.admin.fault("status", "read", status=503, times=2)  # the third attempt gets through
    await store.read(Window(start - timedelta(days=1), start + timedelta(days=1)), full=True)
    assert counts.by_operation()[("read/UsrReservationMeetingRoom", "503")] == 2  # every attempt counts
