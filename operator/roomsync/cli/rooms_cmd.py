"""``roomsync rooms --connection FILE``: the rooms a calendar Connection's credentials can see, to help write a
RoomSync's ``rooms`` (Graph: the places API; EWS: room lists and their rooms)."""

from __future__ import annotations

import asyncio
from typing import Any

import yaml
from rich.table import Table

from roomsync.cli import output
from roomsync.cli.sync_cmd import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from roomsync.config.bundle import load_bundle
from roomsync.connectors.base import BackendError, RoomInfo
from roomsync.connectors.registry import CALENDAR_BACKENDS, SecretLookup, SecretNotFound, backend_of, open_client


def list_rooms(path: str, *, json_output: bool) -> int:
    bundle = load_bundle([path])
    if not bundle.ok:
        output.problems_table(bundle.problems)
        return EXIT_INVALID
    calendars = [(key, c) for key, c in bundle.connections.items() if backend_of(c["spec"]) in CALENDAR_BACKENDS]
    if len(calendars) != 1:
        output.errors.print(f"{path}: expected exactly one calendar Connection, found {len(calendars)}")
        return EXIT_INVALID
    (namespace, name), connection = calendars[0]
    try:
        rooms = asyncio.run(_rooms(connection["spec"], bundle.secret_lookup(namespace)))
    except (BackendError, SecretNotFound, ValueError) as error:
        output.errors.print(f"[red]error[/red] Connection {namespace}/{name}: {error}")
        return EXIT_FAILED
    if json_output:
        output.emit_json([room.__dict__ for room in rooms])
        return EXIT_OK
    table = Table(title=f"Room mailboxes ({len(rooms)})", title_justify="left")
    for column in ("Mailbox", "Name", "Capacity", "Building"):
        table.add_column(column)
    for room in rooms:
        table.add_row(room.email or room.key, room.name, str(room.capacity or ""), room.building or "")
    output.console.print(table)
    output.console.print("A starting point for spec.rooms (replace each planon value by the reservation unit code):")
    rows = [{"planon": "CODE", "calendar": room.email or room.key} for room in rooms]
    print(yaml.safe_dump({"rooms": rows}, sort_keys=False))
    return EXIT_OK


async def _rooms(spec: dict[str, Any], secrets: SecretLookup) -> list[RoomInfo]:
    client = open_client(spec, secrets)
    try:
        discover = getattr(client, "rooms", None)
        if callable(discover):
            found: list[RoomInfo] = await discover()
            return found
        return await _graph_places(client)
    finally:
        await client.aclose()


async def _graph_places(client: Any) -> list[RoomInfo]:
    """The Graph client's places listing, for a Graph connector that does not offer ``Client.rooms()`` yet."""
    from roomsync.connectors.graph.rooms import list_rooms as places

    return [
        RoomInfo(key=r.email, name=r.name, email=r.email, capacity=r.capacity, building=r.building or "")
        for r in await places(client)
    ]
