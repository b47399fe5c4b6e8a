"""A newcomer's first failures, as the Graph connector reports them: a dead URL names the URL and the reason, a
refused token names the app, the tenant, the Secret and the likely cause, and a dead or refusing token endpoint costs
one token request per read, not one per room - all without an object repr in the text."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest

from roomsync.connectors.base import AuthenticationFailed, BackendUnavailable
from roomsync.connectors.graph import open_client
from roomsync.connectors.graph.errors import TokenEndpointUnavailable
from roomsync.model import RoomPair
from roomsync.sandbox.graph import GraphSandbox

from .conftest import WINDOW, ClientFactory, store_of

SIX_ROOMS = [RoomPair(f"R-{i}", f"r-{i}@contoso.com") for i in range(6)]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def hanging_up() -> AsyncIterator[tuple[int, list[int]]]:
    """A loopback endpoint that accepts each connection and closes it at once; counts the connections."""
    accepted: list[int] = []

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], accepted
    finally:
        server.close()
        await server.wait_closed()


async def test_a_dead_graph_url_names_the_url_and_the_reason(make_client: ClientFactory) -> None:
    port = closed_port()
    client = make_client(baseUrl=f"https://127.0.0.1:{port}/v1.0", maxAttempts=1)
    with pytest.raises(BackendUnavailable) as failed:
        await store_of(client).read(WINDOW, full=True)
    text = str(failed.value)
    assert f"Microsoft Graph at https://127.0.0.1:{port} cannot be reached: connection refused" in text
    assert "object at 0x" not in text


@pytest.mark.parametrize(
    ("change", "code", "cause"),
    [
        ({}, "AADSTS7000215", "the client secret in Secret facilities/graph-sandbox, key clientSecret is wrong"),
        ({"tenantId": "not-our-tenant"}, "AADSTS90002", "tenant not-our-tenant does not exist"),
        ({"clientId": "someone-else"}, "AADSTS700016", "tenant 8f4c1a5e-3b1d-4c7e-9a3f-5d2b6e0c1f7a has no app"),
    ],
)
async def test_a_refused_token_names_the_secret_and_the_likely_cause_once_for_six_rooms(
    sandbox: GraphSandbox, change: dict[str, str], code: str, cause: str
) -> None:
    spec, _ = sandbox.connection_spec()
    client = open_client({**spec, **change}, lambda name, key: "not-the-secret", namespace="facilities")
    try:
        store = client.store(SIX_ROOMS, store_of(client).options)
        with pytest.raises(AuthenticationFailed) as failed:
            await store.read(WINDOW, full=True)
    finally:
        await client.aclose()
    text = str(failed.value)
    assert code in text and cause in text and "not-the-secret" not in text
    assert "object at 0x" not in text and "Content:" not in text
    assert sandbox.state.identity.requests == 1  # six rooms, one token request


async def test_a_dead_token_endpoint_costs_one_token_attempt_per_read_not_one_per_room(
    sandbox: GraphSandbox,
) -> None:
    spec, secrets = sandbox.connection_spec()
    async with hanging_up() as (port, accepted):
        client = open_client({**spec, "authorityHost": f"https://127.0.0.1:{port}"}, lambda n, k: secrets[(n, k)])
        try:
            store = client.store(SIX_ROOMS, store_of(client).options)
            with pytest.raises(TokenEndpointUnavailable) as failed:
                await store.read(WINDOW, full=True)
        finally:
            await client.aclose()
    text = str(failed.value)
    assert f"the token endpoint at https://127.0.0.1:{port}/{sandbox.tenant_id}/oauth2/v2.0/token" in text
    assert "cannot be reached" in text and "no room can be read or written" in text and "object at 0x" not in text
    # azure-core retries the token request a few times on its own (3 at most); six rooms did not multiply that by six
    assert 1 <= len(accepted) <= 4
    assert sum(sandbox.state.traffic.summary()["perMailbox"].values()) == 0  # no mailbox was asked anything
