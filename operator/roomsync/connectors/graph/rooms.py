"""Room mailboxes of the tenant, from the places API, to help write the ``rooms`` of a RoomSync.

For ``roomsync rooms --connection FILE``: needs the ``Place.Read.All`` application permission. The SDK sends
``/places/graph.room`` (Graph accepts both spellings); pages are followed verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.places.graph_room.graph_room_request_builder import GraphRoomRequestBuilder

from roomsync.connectors.graph.client import GraphClient
from roomsync.connectors.graph.errors import graph_errors
from roomsync.connectors.graph.transport import current_mailbox


@dataclass(frozen=True)
class RoomInfo:
    email: str
    name: str
    capacity: int | None = None
    building: str | None = None


async def list_rooms(client: GraphClient, *, page_size: int = 100) -> list[RoomInfo]:
    """Every room mailbox the places API lists, sorted by address."""
    builder = client.graph.places.graph_room
    params = GraphRoomRequestBuilder.GraphRoomRequestBuilderGetQueryParameters(top=page_size)
    token = current_mailbox.set("places")
    rooms: list[RoomInfo] = []
    try:
        async with graph_errors("list rooms"):
            page = await builder.get(RequestConfiguration(query_parameters=params))
            while page is not None:
                for room in page.value or []:
                    if room.email_address:
                        rooms.append(
                            RoomInfo(
                                room.email_address.casefold(), room.display_name or "", room.capacity, room.building
                            )
                        )
                if not page.odata_next_link:
                    break
                page = await builder.with_url(page.odata_next_link).get()
    finally:
        current_mailbox.reset(token)
    return sorted(rooms, key=lambda r: r.email)
