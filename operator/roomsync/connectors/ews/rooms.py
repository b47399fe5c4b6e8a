"""Room lists and their rooms (GetRoomLists, GetRooms), for ``roomsync rooms --connection FILE``.

Room lists are distribution groups of room mailboxes (``New-DistributionGroup -RoomList``); a room in no list is not
found this way. Directory requests act on no mailbox and are counted under ``""``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exchangelib.properties import RoomList
from exchangelib.services import GetRoomLists, GetRooms

from roomsync.connectors.base import RoomInfo

if TYPE_CHECKING:
    from exchangelib.protocol import Protocol

    from roomsync.connectors.ews.client import EwsClient


async def list_rooms(client: EwsClient) -> list[RoomInfo]:
    """Every room of every room list, once, sorted by address; ``building`` is the room list's name."""

    def directory(protocol: Protocol) -> list[RoomInfo]:
        found: dict[str, RoomInfo] = {}
        for room_list in GetRoomLists(protocol=protocol).call():
            if isinstance(room_list, Exception):
                raise room_list
            for room in GetRooms(protocol=protocol).call(room_list=RoomList(email_address=room_list.email_address)):
                if isinstance(room, Exception):
                    raise room
                address = (room.email_address or "").casefold()
                if address and address not in found:
                    found[address] = RoomInfo(
                        key=address, name=room.name or "", email=address, building=room_list.name or ""
                    )
        return sorted(found.values(), key=lambda r: r.key)

    return await client.run_directory("GetRoomLists", directory)
