"""One Exchange, two faces: what the EWS connector writes the Graph connector reads, and the other way round - the
same booking id (UID = iCalUId), the same link and people properties (PS_PUBLIC_STRINGS), the same content."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from roomsync.connectors.base import Client, StoreOptions
from roomsync.connectors.registry import open_client
from roomsync.model import Link
from roomsync.sandbox.ews import ExchangeSandbox
from tests.ews.conftest import PAIRS, WINDOW, StoreFactory
from tests.ews.test_write import planon_booking


@pytest.fixture
async def graph(exchange: ExchangeSandbox) -> AsyncIterator[Client]:
    spec, secrets = exchange.connection_spec()
    client = open_client({"graph": spec}, lambda name, key: secrets[(name, key)])
    yield client
    await client.aclose()


async def test_what_ews_writes_graph_reads_and_back(make_store: StoreFactory, graph: Client) -> None:
    ews = make_store(invitations="All")
    created = await ews.create(planon_booking(frozenset({"R1", "R2"})))
    via_graph = graph.store(list(PAIRS), StoreOptions(roomsync="tests/graph"))
    [seen] = (await via_graph.read(WINDOW, full=True)).bookings
    [mine] = (await ews.read(WINDOW, full=True)).bookings
    assert seen.id == mine.id == created.id
    fields = ("subject", "start", "end", "timezone", "organizer", "required", "optional", "rooms", "link")
    assert {f: getattr(seen, f) for f in fields} == {f: getattr(mine, f) for f in fields}
    await via_graph.relink(seen, Link("rs-1", "fp-graph", 2))
    assert [b.link for b in (await ews.read(WINDOW, full=False)).bookings] == [Link("rs-1", "fp-graph", 2)]
