"""Room calendars found under a principal (RFC 4791 calendar-home-set) instead of listed one by one."""

from __future__ import annotations

from roomsync.model import RoomPair
from tests.caldav.conftest import BEN, WINDOW, Rig, at, counts
from tests.caldav.radicale import unique


async def test_rooms_are_the_calendars_named_by_room_addresses_under_the_principal(rig: Rig) -> None:
    prefix = unique("disc")
    by_address = f"{prefix}-a@contoso.example"
    rig.server.make_calendar(by_address, display_name="Room A", time_zone="Europe/Amsterdam")
    rig.server.make_calendar(f"{prefix}-b", display_name="Room B")
    plain = rig.client(calendars=None, discovery={})
    found = {room.key: room for room in await plain.rooms()}
    assert found[by_address].name == "Room A" and found[by_address].time_zone == "Europe/Amsterdam"
    assert f"{prefix}-b@contoso.example" not in found  # a name that is no address is no room
    assert not set(rig.calendars) & set(found)  # this test's other calendars are not named by their rooms

    with_domain = rig.client(calendars=None, discovery={"principal": "/room-sync/", "domain": "contoso.example"})
    found = {room.key: room for room in await with_domain.rooms()}
    assert found[f"{prefix}-b@contoso.example"].name == "Room B" and by_address in found


async def test_a_store_reads_discovered_calendars_and_names_a_room_it_cannot_find(rig: Rig) -> None:
    name = unique("disc")
    address = f"{name}@contoso.example"
    url = rig.server.make_calendar(address, time_zone="Europe/Amsterdam")
    rig.people.calendars[address] = url
    rig.people.book(BEN, [address], "Found by discovery", at(1), at(1, 1))
    client = rig.client(calendars=None, discovery={})
    rooms = [RoomPair("DISC-1", address), RoomPair("DISC-2", f"{name}-missing@contoso.example")]
    snapshot = await rig.store(client, rooms=rooms).read(WINDOW, full=True)
    assert [b.subject for b in snapshot.bookings] == ["Found by discovery"]
    assert snapshot.unreadable_rooms == {"DISC-2"}
    assert counts(client, "")["PROPFIND discovery 207"] >= 2  # principal, home: once for every room
