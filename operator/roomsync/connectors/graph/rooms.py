"""Room mailboxes of the tenant, from the places API, to help write the ``rooms`` of a RoomSync.

For ``roomsync rooms``: needs the ``Place.Read.All`` application permission. The SDK sends ``/places/graph.room``
(Graph accepts both spellings; default page 100); pages are followed verbatim. A room's key is its address, what a
RoomSync's ``rooms[].calendar`` names.
"""

from __future__ import annotations

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.places.graph_room.graph_room_request_builder import GraphRoomRequestBuilder
from msgraph.graph_service_client import GraphServiceClient

from roomsync.connectors.base import RoomInfo
from roomsync.connectors.graph.errors import graph_errors


async def list_rooms(graph: GraphServiceClient, *, page_size: int = 100) -> list[RoomInfo]:
    """Every room mailbox the places API lists, sorted by address."""
    builder = graph.places.graph_room
    params = GraphRoomRequestBuilder.GraphRoomRequestBuilderGetQueryParameters(top=page_size)
    rooms: list[RoomInfo] = []
    async with graph_errors("list rooms"):
        page = await builder.get(RequestConfiguration(query_parameters=params))
        while page is not None:
            for room in page.value or []:
                if not room.email_address:
                    continue
                email = room.email_address.casefold()
                rooms.append(
                    RoomInfo(
                        key=email,
                        name=room.display_name or "",
                        email=email,
                        capacity=room.capacity,
                        building=room.building or "",
                        floor=room.floor_label or ("" if room.floor_number is None else str(room.floor_number)),
                    )
                )
            if not page.odata_next_link:
                break
            page = await builder.with_url(page.odata_next_link).get()
    return sorted(rooms, key=lambda r: r.key)
