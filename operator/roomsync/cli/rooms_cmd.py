"""``roomsync rooms --connection FILE``: the rooms each Connection can see, and the ``rooms:`` pairs they suggest.

Every backend lists its rooms through the port (``Client.rooms()``): Planon its reservation units, Graph the places
API, EWS its room lists, Google the Directory's resources, CalDAV the calendars under a principal. Given a Planon
Connection and a calendar Connection, the rooms are paired where they can be matched without guessing: the same
e-mail address, or the unit code spelled in the calendar room's address or name.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import yaml
from rich.table import Table

from roomsync.cli import output
from roomsync.cli.sync_cmd import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from roomsync.config.bundle import load_bundle
from roomsync.config.references import ResolveError, resolve_connection
from roomsync.connectors.base import BackendError, RoomInfo, SecretNotFound
from roomsync.connectors.registry import open_client


@dataclass(frozen=True)
class Listed:
    connection: str  # namespace/name
    backend: str
    rooms: tuple[RoomInfo, ...] = ()
    error: str | None = None


def list_rooms(paths: Sequence[str], *, json_output: bool) -> int:
    bundle = load_bundle(paths)
    if not bundle.ok:
        output.problems_table(bundle.problems)
        return EXIT_INVALID
    if not bundle.connections:
        output.errors.print(f"{', '.join(paths)}: no Connection found")
        return EXIT_INVALID
    listed = asyncio.run(_list_all(bundle.source, sorted(bundle.connections)))
    pairs = suggest_pairs(listed)
    if json_output:
        output.emit_json(
            {
                "connections": [{**asdict(item), "rooms": [asdict(r) for r in item.rooms]} for item in listed],
                "suggestedRooms": [{"planon": p, "calendar": c} for p, c in pairs],
            }
        )
    else:
        _print(listed, pairs)
    return EXIT_FAILED if any(item.error for item in listed) else EXIT_OK


async def _list_all(source: object, keys: Sequence[tuple[str, str]]) -> list[Listed]:
    return list(await asyncio.gather(*(_list_one(source, namespace, name) for namespace, name in keys)))


async def _list_one(source: object, namespace: str, name: str) -> Listed:
    where = f"{namespace}/{name}"
    try:
        connection = await resolve_connection(source, namespace, name)  # type: ignore[arg-type]
    except ResolveError as error:
        return Listed(where, "?", error=error.message)
    if not connection.capabilities.room_discovery:
        return Listed(where, connection.backend, error=f"a {connection.backend} Connection cannot list its rooms")
    try:
        client = open_client(connection.spec, connection.lookup, namespace=namespace)
    except (SecretNotFound, ValueError) as error:
        return Listed(where, connection.backend, error=str(error))
    try:
        return Listed(where, connection.backend, tuple(await client.rooms()))
    except BackendError as error:
        return Listed(where, connection.backend, error=str(error))
    finally:
        await client.aclose()


def suggest_pairs(listed: Sequence[Listed]) -> list[tuple[str, str]]:
    """``(planon unit code, calendar room)`` pairs matched by e-mail, else by the code in the room's address/name."""
    planon = [r for item in listed if item.backend == "planon" for r in item.rooms]
    # one room seen through two calendar Connections (a hybrid estate: Graph and EWS) is one candidate
    calendar = list({r.key: r for item in listed if item.backend != "planon" for r in item.rooms}.values())
    pairs: list[tuple[str, str]] = []
    taken: set[str] = set()
    for unit in planon:
        match = next(
            (c for c in calendar if unit.email and c.email and c.email.casefold() == unit.email.casefold()), None
        )
        if match is None:
            code = _plain(unit.key)
            candidates = [c for c in calendar if code and code in {_plain(_local(c.email or c.key)), _plain(c.name)}]
            match = candidates[0] if len(candidates) == 1 else None
        if match is not None and match.key not in taken:
            taken.add(match.key)
            pairs.append((unit.key, match.key))
    return pairs


def _plain(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.casefold())


def _local(address: str) -> str:
    return address.split("@", 1)[0]


def _print(listed: Sequence[Listed], pairs: Sequence[tuple[str, str]]) -> None:
    for item in listed:
        if item.error:
            output.errors.print(f"[red]error[/red] Connection {item.connection} ({item.backend}): {item.error}")
            continue
        table = Table(title=f"{item.connection} ({item.backend}): {len(item.rooms)} room(s)", title_justify="left")
        for column in ("Key", "Name", "E-mail", "Capacity", "Building", "Floor", "Time zone"):
            table.add_column(column)
        for room in item.rooms:
            table.add_row(
                room.key,
                room.name,
                room.email or "",
                "" if room.capacity is None else str(room.capacity),
                room.building,
                room.floor,
                room.time_zone or "",
            )
        output.console.print(table)
    if pairs:
        output.console.print(f"Suggested spec.rooms ({len(pairs)} matched by e-mail or code; check them):")
        print(yaml.safe_dump({"rooms": [{"planon": p, "calendar": c} for p, c in pairs]}, sort_keys=False))
    elif any(item.backend != "planon" and item.rooms for item in listed):
        output.console.print(
            "A starting point for spec.rooms (replace each planon value by the reservation unit code):"
        )
        calendar = list({r.key: r for item in listed if item.backend != "planon" for r in item.rooms}.values())
        print(yaml.safe_dump({"rooms": [{"planon": "CODE", "calendar": r.key} for r in calendar]}, sort_keys=False))
