"""``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` are honoured on both sides: the Planon client (API and OIDC token
requests), the Graph client (API over httpx), azure-identity's token requests, the Google client and the CalDAV
client all go through a real proxy on loopback when the environment names one, and around it when ``NO_PROXY``
exempts the host."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import niquests.utils
import pytest

from roomsync.cli.sandbox_cmd import running_google_sandboxes
from roomsync.connectors import caldav, google, graph, planon
from roomsync.connectors.base import StoreOptions
from roomsync.model import RoomPair, Window
from roomsync.sandbox.graph import GraphSandbox
from roomsync.sandbox.planon import PlanonSandbox
from tests.caldav.radicale import SERVICE_PASSWORD, shared_radicale, unique
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


@contextlib.asynccontextmanager
async def behind_a_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[PlanonSandbox, GraphSandbox, LoopbackProxy]]:
    """The Planon and Graph sandboxes, and a proxy that HTTPS_PROXY and HTTP_PROXY name."""
    async with (
        PlanonSandbox() as planon_box,
        GraphSandbox([{"address": ROOM.calendar}]) as graph_box,
        LoopbackProxy().running() as proxy,
    ):
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        yield planon_box, graph_box, proxy


async def test_both_sides_go_through_the_proxy_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    async with behind_a_proxy(monkeypatch) as (planon_box, graph_box, proxy):
        await read_both(planon_box, graph_box)
        planon_at, graph_at = f"127.0.0.1:{planon_box.port}", f"127.0.0.1:{graph_box.port}"
        assert proxy.targets() == {planon_at, graph_at}
        forwarded = [line.split()[1] for line in proxy.seen if not line.startswith("CONNECT")]
        assert f"{planon_box.token_url}" in forwarded  # Planon's OIDC token request
        assert any(url.startswith(planon_box.url + "/read/") for url in forwarded)  # and its API requests
        # Graph over TLS: tunnels for azure-identity's token request and for the SDK's requests (two clients)
        assert sum(1 for line in proxy.seen if line == f"CONNECT {graph_at}") >= 2


async def test_no_proxy_exempts_a_host(monkeypatch: pytest.MonkeyPatch) -> None:
    async with behind_a_proxy(monkeypatch) as (planon_box, graph_box, proxy):
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        await read_both(planon_box, graph_box)
        assert proxy.seen == []


async def test_the_caldav_side_goes_through_the_proxy_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caldav library's HTTP client reads the variables itself: checked, not assumed."""
    radicale = shared_radicale()
    url = radicale.make_calendar(unique("proxied"), time_zone="Europe/Amsterdam")
    spec = {
        "url": radicale.url,
        "auth": {"basic": {"username": "room-sync", "secretRef": {"name": "caldav", "key": "password"}}},
        "calendars": [{"room": ROOM.calendar, "url": url}],
    }
    async with LoopbackProxy().running() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        # niquests reads the variables once per process (a pod has them from the start); earlier tests ran without
        niquests.utils.getproxies.cache_clear()
        niquests.utils.getproxies_environment.cache_clear()
        client = caldav.open_client(spec, lambda name, key: SERVICE_PASSWORD)
        try:
            assert (await client.store([ROOM], StoreOptions("default/proxied")).read(WINDOW, full=True)).complete
        finally:
            await client.aclose()
        assert proxy.targets() == {f"{radicale.host}:{radicale.port}"}
    niquests.utils.getproxies.cache_clear()  # and the next test's process-wide view has no proxy again
    niquests.utils.getproxies_environment.cache_clear()


async def test_the_google_side_goes_through_the_proxy_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """httplib2 reads the variables itself but reaches a proxy only through PySocks (a dependency for this)."""
    async with running_google_sandboxes() as boxes, LoopbackProxy().running() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        spec, secrets = boxes.google.connection_spec()
        client = google.open_client(spec, lambda n, k: secrets[(n, k)])
        room = RoomPair("AMS-3.01", "ams-301@contoso.example")
        try:
            assert (await client.store([room], StoreOptions("default/proxied")).read(WINDOW, full=True)).complete
        finally:
            await client.aclose()
        assert proxy.targets() == {f"127.0.0.1:{boxes.google.port}"}  # the token request and the API requests
