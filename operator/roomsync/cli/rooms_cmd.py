"""``roomsync rooms --connection FILE``: the tenant's room mailboxes, to help write a RoomSync's ``rooms``."""

from __future__ import annotations

import asyncio
from typing import Any

import yaml
from rich.table import Table

from roomsync.cli import output
from roomsync.cli.sync_cmd import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from roomsync.config.bundle import load_bundle
from roomsync.connectors.base import BackendError, RoomInfo
from roomsync.connectors.registry import SecretLookup, SecretNotFound, backend_of


def list_rooms(path: str, *, json_output: bool) -> int:
    bundle = load_bundle([path])
    if not bundle.ok:
        output.problems_table(bundle.problems)
        return EXIT_INVALID
    graph = [(key, c) for key, c in bundle.connections.items() if backend_of(c["spec"]) == "graph"]
    if len(graph) != 1:
        output.errors.print(f"{path}: expected exactly one Connection with spec.graph, found {len(graph)}")
        return EXIT_INVALID
    (namespace, name), connection = graph[0]
    try:
        rooms = asyncio.run(_rooms(connection["spec"]["graph"], bundle.secret_lookup(namespace)))
    except (BackendError, SecretNotFound) as error:
        output.errors.print(f"[red]error[/red] Connection {namespace}/{name}: {error}")
        return EXIT_FAILED
    if json_output:
        output.emit_json([room.__dict__ for room in rooms])
        return EXIT_OK
    table = Table(title=f"Room mailboxes ({len(rooms)})", title_justify="left")
    for column in ("Mailbox", "Name", "Capacity", "Building"):
        table.add_column(column)
    for room in rooms:
        table.add_row(room.email, room.name, str(room.capacity or ""), room.building or "")
    output.console.print(table)
    output.console.print("A starting point for spec.rooms (replace each planon value by the reservation unit code):")
    print(yaml.safe_dump({"rooms": [{"planon": "CODE", "calendar": room.email} for room in rooms]}, sort_keys=False))
    return EXIT_OK


async def _rooms(spec: dict[str, Any], secrets: SecretLookup) -> list[RoomInfo]:
    from roomsync.connectors.graph.client import open_client

    client = open_client(spec, secrets)
    try:
        return await client.rooms()
    finally:
        await client.aclose()
