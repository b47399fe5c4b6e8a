"""A newcomer's first failures, as the Planon connector reports them: a dead URL names the URL and the reason, a dead
token endpoint is asked once for every request that waited on it, and a Retry-After is honoured or, when it asks
for too long, ends the retries at once."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest

from roomsync.connectors.base import BackendUnavailable
from roomsync.connectors.planon import open_client
from roomsync.connectors.planon.auth import OidcAuth
from roomsync.connectors.registry import StoreOptions
from roomsync.model import Window
from roomsync.sandbox.graph import GraphSandbox
from roomsync.sandbox.planon import PlanonSandbox
from tests.planon.conftest import ROOMS, ClientFactory, secrets_of, sent

WINDOW = Window(datetime.now(UTC), datetime.now(UTC) + timedelta(days=30))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_dead_url_names_the_url_and_the_reason(sandbox: PlanonSandbox) -> None:
    url = f"http://127.0.0.1:{closed_port()}/sdk/system/rest/v1"
    client = open_client({**sandbox.connection_spec(), "url": url}, secrets_of(sandbox))
    try:
        with pytest.raises(BackendUnavailable) as failed:
            await client.store(ROOMS, StoreOptions("default/rs")).read(WINDOW, full=True)
    finally:
        await client.aclose()
    assert str(failed.value).startswith(f"Planon at {url} cannot be reached: connection refused")


async def test_an_untrusted_certificate_is_a_tls_failure(sandbox: PlanonSandbox) -> None:
    async with GraphSandbox() as tls_server:  # any loopback HTTPS server whose CA the client does not trust
        url = f"{tls_server.origin}/sdk/system/rest/v1"
        client = open_client({**sandbox.connection_spec(), "url": url}, secrets_of(sandbox))
        try:
            with pytest.raises(BackendUnavailable) as failed:
                await client.store(ROOMS, StoreOptions("default/rs")).read(WINDOW, full=True)
        finally:
            await client.aclose()
    text = str(failed.value)
    assert f"Planon at {url} cannot be reached: TLS failure: the server's certificate is not trusted" in text
    assert "caBundle" in text and "SSLContext" not in text and "object at 0x" not in text


async def test_a_dead_token_endpoint_is_tried_once_for_every_request_waiting_on_it(sandbox: PlanonSandbox) -> None:
    token_url = f"http://127.0.0.1:{closed_port()}/auth/realms/planon/protocol/openid-connect/token"
    spec = sandbox.connection_spec("oidc")
    spec["auth"]["oidc"]["tokenUrl"] = token_url
    client = open_client(spec, secrets_of(sandbox))
    try:
        stores = [client.store([room], StoreOptions(f"default/rs-{i}")) for i, room in enumerate(ROOMS)]
        failures = await asyncio.gather(*(s.read(WINDOW, full=True) for s in stores), return_exceptions=True)
    finally:
        await client.aclose()
    assert all(isinstance(f, BackendUnavailable) for f in failures), failures
    assert f"the token endpoint at {token_url} cannot be reached: connection refused" in str(failures[0])
    assert isinstance(client.auth, OidcAuth) and client.auth.fetches == 1  # four readers, one token request


async def test_a_retry_after_is_waited_for(make_client: ClientFactory, sandbox: PlanonSandbox) -> None:
    client = make_client()
    await sandbox.admin.fault("status", "read", definition="UsrReservationMeetingRoom", status=429, retry_after="0.3")
    started = time.monotonic()
    assert (await client.store(ROOMS, StoreOptions("default/rs")).read(WINDOW, full=True)).complete
    assert time.monotonic() - started >= 0.3
    assert sent(client, "read/UsrReservationMeetingRoom") == 2


async def test_a_retry_after_longer_than_a_cycle_should_wait_ends_the_retries(
    make_client: ClientFactory, sandbox: PlanonSandbox
) -> None:
    client = make_client()
    await sandbox.admin.fault(
        "status", "read", definition="UsrReservationMeetingRoom", status=503, retry_after="3600", times=3
    )
    with pytest.raises(BackendUnavailable, match="HTTP 503"):
        await client.store(ROOMS, StoreOptions("default/rs")).read(WINDOW, full=True)
    assert sent(client, "read/UsrReservationMeetingRoom") == 1  # not three attempts, and no hour-long wait
