"""Both authentication schemes, with wrong, expired and revoked credentials; secrets never in reprs or logs."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from roomsync.connectors.base import AuthenticationFailed
from roomsync.connectors.planon import open_client
from roomsync.connectors.registry import StoreOptions
from roomsync.model import Window
from roomsync.sandbox.planon import DEMO_ACCESS_KEY, DEMO_CLIENT_SECRET, PlanonSandbox
from tests.planon.conftest import ROOMS, ClientFactory, monday, sent

WINDOW = Window(datetime.now(UTC), datetime.now(UTC) + timedelta(days=30))


async def test_access_key_reads(make_client: ClientFactory) -> None:
    store = make_client().store(ROOMS, StoreOptions("default/rs"))
    assert (await store.read(WINDOW, full=True)).bookings == ()


async def test_wrong_access_key_is_authentication_failed(sandbox: PlanonSandbox) -> None:
    client = open_client(sandbox.connection_spec(), lambda name, key: "not-the-key")
    try:
        with pytest.raises(AuthenticationFailed) as failed:
            await client.store(ROOMS, StoreOptions("default/rs")).read(WINDOW, full=True)
        text = str(failed.value)
        assert "401" in text and "not-the-key" not in text
        # it says where the key came from, what is likely wrong and where a person makes a new one
        assert "Secret default/planon-sandbox, key accessKey" in text and "wrong or expired" in text
        assert "Accounts > User groups > Users > Settings > Access keys" in text
    finally:
        await client.aclose()


async def test_expired_access_key_is_authentication_failed(sandbox: PlanonSandbox) -> None:
    await sandbox.admin.seed(
        {
            "users": [
                {
                    "account": "old",
                    "timeZone": "UTC",
                    "accessKeys": [{"key": "old-key", "expires": "2020-01-01T00:00:00Z"}],
                }
            ]
        }
    )
    client = open_client(sandbox.connection_spec(), lambda name, key: "old-key")
    try:
        with pytest.raises(AuthenticationFailed):
            await client.store(ROOMS, StoreOptions("default/rs")).read(WINDOW, full=True)
    finally:
        await client.aclose()


async def test_oidc_token_is_fetched_once_and_cached(make_client: ClientFactory, sandbox: PlanonSandbox) -> None:
    client = make_client("oidc")
    store = client.store(ROOMS, StoreOptions("default/rs"))
    for _ in range(3):
        await store.read(WINDOW, full=True)
    assert (await sandbox.admin.requests())["token"] == 1
    assert sent(client, "read/UsrReservationMeetingRoom") == 3


async def test_oidc_expired_token_is_refreshed_with_one_retry(
    make_client: ClientFactory, sandbox: PlanonSandbox
) -> None:
    client = make_client("oidc")
    store = client.store(ROOMS, StoreOptions("default/rs"))
    await store.read(WINDOW, full=True)
    assert await sandbox.admin.expire_tokens() == 1
    await store.read(WINDOW, full=True)  # 401 -> new token -> success
    assert (await sandbox.admin.requests())["token"] == 2


async def test_oidc_token_refreshed_before_expiry(sandbox: PlanonSandbox) -> None:
    async with PlanonSandbox(token_lifetime_seconds=1) as short:
        values = short.demo_secrets()
        client = open_client(short.connection_spec("oidc"), lambda n, k: values[(n, k)])
        try:
            store = client.store(ROOMS, StoreOptions("default/rs"))
            await store.read(WINDOW, full=True)
            await store.read(WINDOW, full=True)
            assert (await short.admin.requests())["token"] == 1
            await asyncio.sleep(1.0)  # lifetime 1 s, refreshed 10% early: the next request fetches a new token
            await store.read(WINDOW, full=True)
            counts = await short.admin.requests()
            assert counts["token"] == 2 and counts["read/UsrReservationMeetingRoom"] == 3  # no 401 and retry
        finally:
            await client.aclose()


async def test_oidc_wrong_secret_is_authentication_failed(sandbox: PlanonSandbox) -> None:
    client = open_client(sandbox.connection_spec("oidc"), lambda name, key: "wrong-secret")
    try:
        with pytest.raises(AuthenticationFailed) as failed:
            await client.store(ROOMS, StoreOptions("default/rs")).read(WINDOW, full=True)
        text = str(failed.value)
        assert f"token endpoint {sandbox.token_url} refused OIDC client" in text and "wrong-secret" not in text
        assert "client secret in Secret default/planon-sandbox, key clientSecret is wrong or expired" in text
    finally:
        await client.aclose()


async def test_oidc_without_service_account_user_is_authentication_failed(sandbox: PlanonSandbox) -> None:
    await sandbox.admin.seed({"oidcClients": [{"clientId": "orphan", "secret": "s3cret"}]})
    spec = sandbox.connection_spec("oidc")
    spec["auth"]["oidc"]["clientId"] = "orphan"
    client = open_client(spec, lambda name, key: "s3cret")
    try:
        with pytest.raises(AuthenticationFailed, match="the Planon user service-account-orphan must exist"):
            await client.store(ROOMS, StoreOptions("default/rs")).read(WINDOW, full=True)
        assert (await sandbox.admin.requests())["token"] == 2  # one retry with a fresh token, then give up
    finally:
        await client.aclose()


async def test_secrets_never_appear_in_reprs_or_logs(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for auth in ("accessKey", "oidc"):
        client = make_client(auth)
        store = client.store(ROOMS, StoreOptions("default/rs"))
        from roomsync.model import Booking

        start = monday()
        await store.create(
            Booking(id="s", subject="s", start=start, end=start + timedelta(hours=1), rooms=frozenset({"AMS-1.01"}))
        ) if auth == "accessKey" else await store.read(WINDOW, full=True)
        for text in (repr(client), repr(client.auth), caplog.text):
            assert DEMO_ACCESS_KEY not in text and DEMO_CLIENT_SECRET not in text
    assert "planon POST" in caplog.text  # the requests were logged, without credentials
