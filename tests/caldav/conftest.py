"""Fixtures: the real Radicale of this test process, fresh room calendars per test, and real CalDAV clients on them.

Nothing is mocked: the connector talks HTTP through the caldav library to Radicale; people's clients write with
their own logins (:mod:`roomsync.sandbox.caldav.people`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from roomsync.connectors.base import StoreOptions
from roomsync.connectors.caldav import CalDAVClient, open_client
from roomsync.connectors.caldav.store import CalDAVStore
from roomsync.model import RoomPair, Side, Window
from roomsync.sandbox.caldav import RadicaleServer
from roomsync.sandbox.caldav.people import People
from tests.caldav.radicale import SERVICE_PASSWORD, shared_radicale, unique

UTC = UTC
R1, R2, R3 = "mr-1@contoso.example", "mr-2@contoso.example", "mr-3@contoso.example"
ROOMS = [RoomPair("MR-1", R1), RoomPair("MR-2", R2), RoomPair("MR-3", R3)]
#: A fixed Monday in the future, so nothing depends on today's date.
T0 = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)
WINDOW = Window(T0 - timedelta(days=1), T0 + timedelta(days=60))
ROOM_ZONE = "Europe/Amsterdam"
ANNA, BEN, CARLA = "anna@contoso.example", "ben@contoso.example", "carla@contoso.example"


def at(days: float = 0, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


@dataclass
class Rig:
    """One test's room calendars on the shared server, the people using them, and connector clients."""

    server: RadicaleServer
    calendars: dict[str, str]
    people: People
    clients: list[CalDAVClient] = field(default_factory=list)

    def spec(self, **overrides: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "url": self.server.url,
            "auth": {"basic": {"username": "room-sync", "secretRef": {"name": "caldav", "key": "password"}}},
            "calendars": [{"room": room, "url": url} for room, url in sorted(self.calendars.items())],
        }
        spec.update(overrides)
        return spec

    def client(self, password: str = SERVICE_PASSWORD, **overrides: Any) -> CalDAVClient:
        client = open_client(self.spec(**overrides), lambda name, key: password)
        self.clients.append(client)
        return client

    def store(
        self, client: CalDAVClient | None = None, *, leader: Side = Side.PLANON, rooms: list[RoomPair] | None = None
    ) -> CalDAVStore:
        store: CalDAVStore = (client or self.client()).store(
            rooms or ROOMS, StoreOptions(roomsync="tests/caldav", leader=leader)
        )
        return store


@pytest.fixture(scope="session")
def radicale() -> Iterator[RadicaleServer]:
    yield shared_radicale()


@pytest.fixture
async def rig(radicale: RadicaleServer) -> AsyncIterator[Rig]:
    prefix = unique("t")
    calendars = {
        room.calendar: radicale.make_calendar(
            f"{prefix}-{room.key.lower()}", display_name=room.key, time_zone=ROOM_ZONE
        )
        for room in ROOMS
    }
    rig = Rig(radicale, calendars, People(radicale, calendars, ROOM_ZONE))
    yield rig
    for client in rig.clients:
        await client.aclose()


def counts(client: CalDAVClient, room: str | None = None) -> dict[str, int]:
    """``{"<operation> <status>": n}`` of a client's requests (for one room)."""
    result: dict[str, int] = {}
    for (where, operation, status), n in client.requests.by_room.items():
        if room is None or where == room:
            result[f"{operation} {status}"] = result.get(f"{operation} {status}", 0) + n
    return result
