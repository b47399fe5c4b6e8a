"""Fixtures: an in-process Google sandbox on loopback and a real Google client (google-api-python-client +
google-auth, bundled discovery documents) on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from roomsync.connectors.base import StoreOptions
from roomsync.connectors.google import GoogleClient, open_client
from roomsync.connectors.google.store import GoogleStore
from roomsync.model import RoomPair, Side, Window
from roomsync.sandbox.google import GoogleSandbox

UTC = UTC
DOMAIN = "contoso.example"
ROOM1, ROOM2, ROOM3 = (f"mr-{i}@{DOMAIN}" for i in (1, 2, 3))
ROOMS = [RoomPair("MR-1", ROOM1), RoomPair("MR-2", ROOM2), RoomPair("MR-3", ROOM3)]
CAROL, DAVE = f"carol@{DOMAIN}", f"dave@{DOMAIN}"
#: A fixed Monday in the future, so nothing depends on today's date.
T0 = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)
WINDOW = Window(T0 - timedelta(days=1), T0 + timedelta(days=60))


def at(days: float = 0, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


@pytest.fixture
async def sandbox() -> AsyncIterator[GoogleSandbox]:
    async with GoogleSandbox(
        rooms=[
            {"email": ROOM1, "name": "Room 1", "capacity": 8, "building": "AMS", "floor": "1"},
            {"email": ROOM2, "name": "Room 2", "capacity": 8, "building": "AMS", "floor": "1"},
            {"email": ROOM3, "name": "Room 3", "capacity": 12, "building": "AMS", "floor": "2", "booking": "addAll"},
        ],
        domain=DOMAIN,
    ) as sb:
        yield sb


ClientFactory = Callable[..., GoogleClient]


@pytest.fixture
async def make_client(sandbox: GoogleSandbox) -> AsyncIterator[ClientFactory]:
    clients: list[GoogleClient] = []

    def factory(**overrides: Any) -> GoogleClient:
        spec, secrets = sandbox.connection_spec()
        spec.update({"backoffBaseMilliseconds": 5, "maxBackoffSeconds": 1, **overrides})
        client = open_client(spec, lambda name, key: secrets[(name, key)])
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose()


@pytest.fixture
def client(make_client: ClientFactory) -> GoogleClient:
    return make_client()


def store_of(client: GoogleClient, *, leader: Side = Side.PLANON, invitations: str = "OrganizerOnly") -> GoogleStore:
    store = client.store(ROOMS, StoreOptions(roomsync="default/rooms", leader=leader, invitations=invitations))
    assert isinstance(store, GoogleStore)
    return store


@pytest.fixture
def store(client: GoogleClient) -> GoogleStore:
    return store_of(client)
