"""``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` are honoured on both sides: the Planon client (API and OIDC token
requests), the Graph client (API over httpx) and azure-identity's token requests all go through a real proxy on
loopback when the environment names one, and around it when ``NO_PROXY`` exempts the host."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from roomsync.connectors import graph, planon
from roomsync.connectors.base import StoreOptions
from roomsync.model import RoomPair, Window
from roomsync.sandbox.graph import GraphSandbox
from roomsync.sandbox.planon import PlanonSandbox
from tests.connectors.loopback_proxy import LoopbackProxy

ROOM = RoomPair("AMS-1.01", "ams-101@contoso.example")
WINDOW = Window(datetime.now(UTC), datetime.now(UTC) + timedelta(days=7))
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY")


@pytest.fixture(autouse=True)
def no_inherited_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


async def read_both(planon_box: PlanonSandbox, graph_box: GraphSandbox) -> None:
    """Open a Planon client (OIDC: token and API requests) and a Graph client the way the operator does, read."""
    planon_secrets = planon_box.demo_secrets()
    graph_spec, graph_secrets = graph_box.connection_spec()
    options = StoreOptions("default/proxied")
    clients = [
        planon.open_client(planon_box.connection_spec("oidc"), lambda n, k: planon_secrets[(n, k)]),
        graph.open_client(graph_spec, lambda n, k: graph_secrets[(n, k)]),
    ]
    try:
        for client in clients:
            assert (await client.store([ROOM], options).read(WINDOW, full=True)).complete
    finally:
        for client in clients:
            await client.aclose()


async def test_both_sides_go_through_the_proxy_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    async with (
        PlanonSandbox() as planon_box,
        GraphSandbox([{"address": ROOM.calendar}]) as graph_box,
        LoopbackProxy().running() as proxy,
    ):
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        await read_both(planon_box, graph_box)
        planon_at, graph_at = f"127.0.0.1:{planon_box.port}", f"127.0.0.1:{graph_box.port}"
        assert proxy.targets() == {planon_at, graph_at}
        forwarded = [line.split()[1] for line in proxy.seen if not line.startswith("CONNECT")]
        assert f"{planon_box.token_url}" in forwarded  # Planon's OIDC token request
        assert any(url.startswith(planon_box.url + "/read/") for url in forwarded)  # and its API requests
        # Graph over TLS: tunnels for azure-identity's token request and for the SDK's requests (two clients)
        assert sum(1 for line in proxy.seen if line == f"CONNECT {graph_at}") >= 2


async def test_no_proxy_exempts_a_host(monkeypatch: pytest.MonkeyPatch) -> None:
    async with (
        PlanonSandbox() as planon_box,
        GraphSandbox([{"address": ROOM.calendar}]) as graph_box,
        LoopbackProxy().running() as proxy,
    ):
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        await read_both(planon_box, graph_box)
        assert proxy.seen == []
