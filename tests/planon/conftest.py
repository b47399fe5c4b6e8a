"""Fixtures: a fresh sandbox per test, a connector client/store pointed at it, and future meeting times."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from roomsync.connectors.planon import PlanonClient, PlanonStore, open_client
from roomsync.connectors.registry import StoreOptions
from roomsync.model import RoomPair
from roomsync.sandbox.planon import PlanonSandbox

AMS = ZoneInfo("Europe/Amsterdam")
ROOMS = [
    RoomPair("AMS-1.01", "ams-1.01@example.com"),
    RoomPair("AMS-1.02", "ams-1.02@example.com"),
    RoomPair("AMS-2.01", "ams-2.01@example.com"),
    RoomPair("LON-3.01", "lon-3.01@example.com"),
]


def monday(weeks_ahead: int = 2, hour: int = 9, minute: int = 0, tz: ZoneInfo = AMS) -> datetime:
    """A Monday at least ``weeks_ahead`` weeks from now, at a local wall time: always in the future."""
    today = datetime.now(tz).date()
    day = today + timedelta(days=(7 - today.weekday()) % 7 + 7 * weeks_ahead)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)


def sent(client: PlanonClient, operation: str) -> int:
    """Requests the client sent for one operation (the path below the base URL), whatever their status."""
    return sum(n for (op, _), n in client.requests.by_operation().items() if op == operation)


def secrets_of(sandbox: PlanonSandbox) -> Callable[[str, str], str]:
    values = sandbox.demo_secrets()
    return lambda name, key: values[(name, key)]


@pytest.fixture
async def sandbox() -> AsyncIterator[PlanonSandbox]:
    async with PlanonSandbox() as sb:
        yield sb


ClientFactory = Callable[..., PlanonClient]


@pytest.fixture
async def make_client(sandbox: PlanonSandbox) -> AsyncIterator[ClientFactory]:
    clients: list[PlanonClient] = []

    def make(auth: str = "accessKey", **overrides: Any) -> PlanonClient:
        spec = sandbox.connection_spec(auth) | overrides
        client = open_client(spec, secrets_of(sandbox))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def client(make_client: ClientFactory) -> PlanonClient:
    return make_client()


@pytest.fixture
def store(client: PlanonClient) -> PlanonStore:
    return client.store(ROOMS, StoreOptions("default/rs"))
