"""Service-account credentials with domain-wide delegation against the sandbox's token endpoint, and the settings
that refuse what cannot work, naming the field."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from roomsync.connectors.base import AuthenticationFailed, BackendError, StoreOptions
from roomsync.connectors.google import open_client
from roomsync.connectors.google.settings import SettingsError, read_settings
from roomsync.sandbox.google import GoogleSandbox
from roomsync.sandbox.google.auth import ServiceAccount

from .conftest import ROOMS, WINDOW, ClientFactory, store_of


async def test_jwt_is_verified_and_the_booking_user_is_impersonated(
    sandbox: GoogleSandbox, make_client: ClientFactory
) -> None:
    store = store_of(make_client())
    await store.read(WINDOW, full=True)
    [issued] = await sandbox.admin.tokens()  # one token for every room: requests do not race for it
    assert issued["sub"] == sandbox.booking_user and issued["kid"] == sandbox.account.key_id
    assert issued["scope"] == ["https://www.googleapis.com/auth/calendar.events"]


async def test_a_key_the_domain_does_not_know_is_refused(sandbox: GoogleSandbox) -> None:
    spec, _ = sandbox.connection_spec()
    stranger = ServiceAccount.generate(sandbox.account.email, fresh=True).key_file(
        sandbox.token_uri
    )  # same name, other key
    client = open_client(spec, lambda name, key: json.dumps(stranger))
    try:
        with pytest.raises(AuthenticationFailed, match=r"token request refused.*Invalid JWT Signature"):
            await store_of(client).read(WINDOW, full=True)
    finally:
        await client.aclose()


async def test_a_scope_not_granted_for_delegation_is_refused_with_the_reason(
    sandbox: GoogleSandbox, make_client: ClientFactory
) -> None:
    sandbox.state.identity.delegation[sandbox.account.client_id] = frozenset()
    with pytest.raises(AuthenticationFailed, match="unauthorized_client"):
        await store_of(make_client()).read(WINDOW, full=True)


async def test_a_room_the_booking_user_may_not_change_is_unreadable_alone(
    sandbox: GoogleSandbox, make_client: ClientFactory
) -> None:
    await sandbox.admin.set_room_writers(["someone-else@contoso.example"])
    with pytest.raises(BackendError, match="notFound"):
        await store_of(make_client()).read(WINDOW, full=True)  # no room readable: the read fails as a whole


def test_settings_name_the_field_at_fault(sandbox: GoogleSandbox) -> None:
    spec, secrets = sandbox.connection_spec()

    def lookup(name: str, key: str) -> str:
        return secrets[(name, key)]

    with pytest.raises(SettingsError, match=r"workloadIdentity.*not supported yet"):
        read_settings({**spec, "auth": {"workloadIdentity": {}}}, lookup)
    with pytest.raises(SettingsError, match=r"google\.apiEndpoint must be an https:// URL"):
        read_settings({**spec, "apiEndpoint": "http://calendar.example.com"}, lookup)
    with pytest.raises(SettingsError, match=r"google\.subject"):
        read_settings({**spec, "subject": "nobody"}, lookup)
    with pytest.raises(SettingsError, match="not a JSON key file"):
        read_settings(spec, lambda name, key: "not json")
    with pytest.raises(SettingsError, match=r"not a service-account key file \(missing private_key"):
        read_settings(spec, lambda name, key: json.dumps({"type": "service_account", "client_email": "a@b.c"}))
    assert read_settings(spec, lookup).calendar_endpoint == f"{sandbox.origin}/calendar/v3/"


async def test_a_dead_token_endpoint_is_named(make_client: ClientFactory) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/token"
    with pytest.raises(BackendError) as failed:
        await store_of(make_client(tokenUri=dead)).read(WINDOW, full=True)
    assert f"token request: Google at {dead} cannot be reached: connection refused" in str(failed.value)


async def test_rooms_waiting_for_a_failed_token_request_share_its_failure(make_client: ClientFactory) -> None:
    """A token endpoint that hangs up costs one token request per read, however many rooms wait for it (they
    share the failure instead of asking again); the next read asks again."""
    hang_ups = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal hang_ups
        hang_ups += 1
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    token_uri = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/token"
    try:
        for rooms, reads in ((ROOMS[:1], 1), (ROOMS, 1), (ROOMS, 2)):
            hang_ups = 0
            store = make_client(tokenUri=token_uri).store(rooms, StoreOptions(roomsync="default/rooms"))
            for _ in range(reads):
                with pytest.raises(BackendError, match="token request: Google at"):
                    await store.read(WINDOW, full=True)
            if len(rooms) == 1:
                one_request = hang_ups  # httplib2 may repeat a request whose connection dropped: calibrate
                assert one_request >= 1
            else:
                assert hang_ups == one_request * reads, (len(rooms), reads, hang_ups)
    finally:
        server.close()
        await server.wait_closed()
