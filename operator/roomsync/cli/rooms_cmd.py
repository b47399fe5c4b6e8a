"""``roomsync rooms --connection FILE``: the rooms a calendar Connection can see (Graph places API, Google
Directory ``resources.calendars``), to help write a RoomSync's ``rooms``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import yaml
from rich.table import Table

from roomsync.cli import output
from roomsync.cli.sync_cmd import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from roomsync.config.bundle import load_bundle
from roomsync.connectors.base import BackendError
from roomsync.connectors.registry import SecretLookup, SecretNotFound, backend_of

if TYPE_CHECKING:
    from roomsync.connectors.graph.rooms import RoomInfo


def list_rooms(path: str, *, json_output: bool) -> int:
    bundle = load_bundle([path])
    if not bundle.ok:
        output.problems_table(bundle.problems)
        return EXIT_INVALID
    calendars = [(key, c) for key, c in bundle.connections.items() if backend_of(c["spec"]) in ROOM_LISTS]
    if len(calendars) != 1:
        output.errors.print(
            f"{path}: expected exactly one Connection with spec.graph or spec.google, found {len(calendars)}"
        )
        return EXIT_INVALID
    (namespace, name), connection = calendars[0]
    backend = backend_of(connection["spec"])
    try:
        rooms = asyncio.run(ROOM_LISTS[backend](connection["spec"][backend], bundle.secret_lookup(namespace)))
    except (BackendError, SecretNotFound) as error:
        output.errors.print(f"[red]error[/red] Connection {namespace}/{name}: {error}")
        return EXIT_FAILED
    if json_output:
        output.emit_json([room.__dict__ for room in rooms])
        return EXIT_OK
    table = Table(title=f"Rooms ({len(rooms)})", title_justify="left")
    for column in ("Calendar", "Name", "Capacity", "Building", "Floor"):
        table.add_column(column)
    for room in rooms:
        table.add_row(room.email, room.name, str(room.capacity or ""), room.building or "", getattr(room, "floor", ""))
    output.console.print(table)
    output.console.print("A starting point for spec.rooms (replace each planon value by the reservation unit code):")
    print(yaml.safe_dump({"rooms": [{"planon": "CODE", "calendar": room.email} for room in rooms]}, sort_keys=False))
    return EXIT_OK


async def _google_rooms(spec: dict[str, Any], secrets: SecretLookup) -> list[Any]:
    """Room resources from the Directory API, through the connector's ``client.rooms()``."""
    from roomsync.connectors.google import open_client

    client = open_client(spec, secrets)
    try:
        return list(await client.rooms())
    finally:
        await client.aclose()


async def _rooms(spec: dict[str, Any], secrets: SecretLookup) -> list[RoomInfo]:
    from roomsync.connectors.graph.client import open_client
    from roomsync.connectors.graph.rooms import list_rooms as places

    client = open_client(spec, secrets)
    try:
        found: list[RoomInfo] = await places(client)
        return found
    finally:
        await client.aclose()


ROOM_LISTS: dict[str, Callable[[dict[str, Any], SecretLookup], Coroutine[Any, Any, list[Any]]]] = {
    "graph": _rooms,
    "google": _google_rooms,
}
