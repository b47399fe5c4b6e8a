"""Fixtures: an in-process Graph sandbox on loopback and a real Graph client (msgraph-sdk + azure-identity) on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from roomsync.connectors.graph import GraphClient, open_client
from roomsync.connectors.graph.store import GraphStore
from roomsync.connectors.registry import StoreOptions
from roomsync.model import Booking, Link, Person, RoomPair, Side, Window, people
from roomsync.sandbox.graph import GraphSandbox

UTC = UTC
BATCH = "$batch"
ROOM1, ROOM2, ROOM3 = "mr-1@contoso.com", "mr-2@contoso.com", "mr-3@contoso.com"
ROOMS = [RoomPair("MR-1", ROOM1), RoomPair("MR-2", ROOM2), RoomPair("MR-3", ROOM3)]
#: A fixed Monday in the future, so nothing depends on today's date.
T0 = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)
WINDOW = Window(T0 - timedelta(days=1), T0 + timedelta(days=60))


def at(days: float = 0, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


def planon_booking(booking_id: str = "RES-1", **overrides: object) -> Booking:
    """A one-hour meeting tomorrow in MR-1, as Planon hands it to the calendar side (linked to itself)."""
    base = Booking(
        id=booking_id,
        subject="Board meeting",
        start=at(days=1),
        end=at(days=1, hours=1),
        timezone="Europe/Amsterdam",
        organizer=Person("carol@contoso.com", "Carol"),
        required=people(["dave@contoso.com"]),
        rooms=frozenset({"MR-1"}),
        link=Link(booking_id, "fp1"),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


@pytest.fixture
async def sandbox() -> AsyncIterator[GraphSandbox]:
    async with GraphSandbox(
        rooms=[
            {"address": ROOM1, "name": "Room 1", "processing": {"AutomateProcessing": "AutoAccept"}},
            {"address": ROOM2, "name": "Room 2", "processing": {"AutomateProcessing": "AutoAccept"}},
            {"address": ROOM3, "name": "Room 3", "processing": {"AutomateProcessing": "AutoUpdate"}},
        ],
        now=T0 - timedelta(days=1),
    ) as sb:
        yield sb


ClientFactory = Callable[..., GraphClient]


def pytest_configure(config: pytest.Config) -> None:
    # msgraph-sdk's generated request builders warn about their own deprecated configuration classes on import.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:msgraph.*")


@pytest.fixture
async def make_client(sandbox: GraphSandbox) -> AsyncIterator[ClientFactory]:
    clients: list[GraphClient] = []

    def factory(**overrides: Any) -> GraphClient:
        spec, secrets = sandbox.connection_spec()
        spec.update(overrides)
        client = open_client(spec, lambda name, key: secrets[(name, key)])
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose()


@pytest.fixture
async def client(make_client: ClientFactory) -> GraphClient:
    return make_client(maxAttempts=4)


def mailbox_requests(client: GraphClient) -> int:
    """Requests the room mailboxes served (each counts against its mailbox's limits, batched or not)."""
    return sum(n for (_, operation, _), n in client.requests.by_room.items() if operation != BATCH)


def batches(client: GraphClient) -> int:
    """``$batch`` HTTP requests sent."""
    return sum(n for (_, operation, _), n in client.requests.by_room.items() if operation == BATCH)


def store_of(client: GraphClient, *, leader: Side = Side.PLANON, invitations: str = "OrganizerOnly") -> GraphStore:
    store = client.store(ROOMS, StoreOptions(roomsync="default/rooms", leader=leader, invitations=invitations))
    assert isinstance(store, GraphStore)
    return store


@pytest.fixture
def store(client: GraphClient) -> GraphStore:
    return store_of(client)
