"""Fixtures for the EWS connector tests: the Exchange sandbox (its EWS face) and clients opened from a ``spec.ews``
the way the operator opens them - exchangelib over real HTTPS, never a mock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from roomsync.connectors.base import StoreOptions
from roomsync.connectors.ews import EwsClient
from roomsync.connectors.ews.settings import read_settings
from roomsync.connectors.ews.store import EwsStore
from roomsync.model import RoomPair, Window
from roomsync.sandbox.ews import ExchangeSandbox

DOMAIN = "corp.example"
R1, R2, R3 = (f"room{i}@{DOMAIN}" for i in (1, 2, 3))
BEN, ANNA = f"ben@{DOMAIN}", f"anna@{DOMAIN}"
PAIRS = (RoomPair("R1", R1), RoomPair("R2", R2), RoomPair("R3", R3))
WINDOW = Window(datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 5, 1, tzinfo=UTC))
#: rooms that leave subjects alone; R3 waits for a delegate (AutoUpdate), as a room Planon leads
PROCESSING = {"AddOrganizerToSubject": False, "DeleteSubject": False, "DeleteComments": False}

ClientFactory = Callable[..., EwsClient]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """March 2031, UTC."""
    return datetime(2031, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
async def exchange() -> AsyncIterator[ExchangeSandbox]:
    rooms: list[dict[str, Any]] = [
        {"address": R1, "name": "Room 1", "processing": PROCESSING},
        {"address": R2, "name": "Room 2", "processing": PROCESSING},
        {"address": R3, "name": "Room 3", "processing": {**PROCESSING, "AutomateProcessing": "AutoUpdate"}},
    ]
    async with ExchangeSandbox(rooms, now=datetime(2031, 2, 28, tzinfo=UTC)) as sandbox:
        yield sandbox


@pytest.fixture
async def make_client(exchange: ExchangeSandbox) -> AsyncIterator[ClientFactory]:
    """``make_client(auth="ntlm", access_type="Impersonation", **spec overrides, settings=dict of EwsSettings
    overrides)``; every client is closed at the end."""
    clients: list[EwsClient] = []

    def factory(
        auth: str = "ntlm", access_type: str = "Impersonation", settings: dict[str, Any] | None = None, **spec: Any
    ) -> EwsClient:
        base, secrets = exchange.ews_connection_spec(auth=auth, access_type=access_type)
        base.update(spec)
        resolved = read_settings(base, lambda name, key: secrets[(name, key)])
        client = EwsClient(replace(resolved, **(settings or {})))
        client.sleep = _no_wait
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose()


async def _no_wait(seconds: float) -> None:
    """Retries are counted, not slept through: tests stay fast (the waits are asserted through the counters)."""


@pytest.fixture
def make_store(make_client: ClientFactory) -> Callable[..., EwsStore]:
    def factory(client: EwsClient | None = None, rooms: tuple[RoomPair, ...] = PAIRS, **options: Any) -> EwsStore:
        store = (client or make_client()).store(list(rooms), StoreOptions(roomsync="tests/ews", **options))
        assert isinstance(store, EwsStore)
        return store

    return factory


StoreFactory = Callable[..., EwsStore]
