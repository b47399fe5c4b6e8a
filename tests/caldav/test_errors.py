"""Bad configuration and failing servers give errors that name the field, the room or the calendar at fault."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
import trustme

from roomsync.config.crds import validate_object
from roomsync.connectors.base import AuthenticationFailed, BackendUnavailable, NotFound, StoreOptions
from roomsync.connectors.caldav import open_client
from roomsync.connectors.caldav.errors import CalendarAccessDenied
from roomsync.connectors.caldav.settings import SettingsError, read_settings
from roomsync.connectors.registry import capabilities
from roomsync.sandbox.caldav import RadicaleServer
from tests.caldav.conftest import BEN, R1, R2, ROOMS, WINDOW, Rig, at
from tests.caldav.proxy import NoSyncProxy
from tests.caldav.radicale import SERVICE_PASSWORD, TMPFS, USERS

SECRET = {"secretRef": {"name": "caldav", "key": "password"}}


def connection(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "roomsync.io/v1alpha1",
        "kind": "Connection",
        "metadata": {"name": "rooms", "namespace": "facilities"},
        "spec": {"caldav": spec},
    }


VALID = {
    "url": "https://dav.example.com/",
    "auth": {"basic": {"username": "room-sync", **SECRET}},
    "calendars": [{"room": "mr-1@contoso.com", "url": "/calendars/room-sync/mr-1/"}],
}


def test_a_valid_caldav_connection_validates() -> None:
    assert validate_object(connection(VALID)) == []
    discovering = {k: v for k, v in VALID.items() if k != "calendars"} | {"discovery": {"domain": "contoso.com"}}
    assert validate_object(connection(discovering)) == []


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        ({"url": "ftp://dav.example.com/"}, "spec.caldav.url", "should match"),
        ({"url": "http://dav.example.com/"}, "spec.caldav", "url must use https://"),
        ({"auth": {}}, "spec.caldav.auth", "exactly one of basic or bearer"),
        ({"auth": {"basic": {"username": "x", **SECRET}, "bearer": SECRET}}, "spec.caldav.auth", "exactly one"),
        ({"auth": {"basic": SECRET}}, "spec.caldav.auth.basic.username", "Required value"),
        ({"calendars": [{"room": "not an address", "url": "/x/"}]}, "spec.caldav.calendars[0].room", "match"),
        ({"calendars": [{"room": "mr-1@contoso.com"}]}, "spec.caldav.calendars[0].url", "Required value"),
        ({"calendars": None}, "spec.caldav", "set calendars"),
        ({"maxConcurrentRequests": 0}, "spec.caldav.maxConcurrentRequests", "greater than or equal to 1"),
        ({"calendarz": []}, "spec.caldav.calendarz", "unknown field"),
    ],
)
def test_roomsync_validate_names_the_field_of_a_malformed_spec(
    change: dict[str, Any], path: str, fragment: str
) -> None:
    spec = {k: v for k, v in {**VALID, **change}.items() if v is not None}
    errors = [str(e) for e in validate_object(connection(spec))]
    assert any(path in e and fragment in e for e in errors), errors


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({**VALID, "url": "http://dav.example.com/"}, "caldav.url must use https://"),
        ({**VALID, "auth": {"bearer": {}}}, "caldav.auth.bearer.secretRef needs name and key"),
        ({**VALID, "calendars": [{"room": "nope", "url": "/x/"}]}, "caldav.calendars[0].room"),
        ({**VALID, "calendars": VALID["calendars"] * 2}, "caldav.calendars[1].room: mr-1@contoso.com is listed twice"),
        ({**VALID, "timeZone": "Mars/Olympus"}, "caldav.timeZone"),
        ({k: v for k, v in VALID.items() if k != "calendars"}, "calendars (one URL per room) or discovery"),
    ],
)
def test_settings_refuse_what_the_schema_cannot_check_naming_the_field(spec: dict[str, Any], fragment: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(fragment)):
        read_settings(spec, lambda name, key: "secret")


def test_calendar_urls_may_be_paths_on_the_server_url() -> None:
    settings = read_settings(VALID, lambda name, key: "secret")
    assert settings.calendar_url("MR-1@contoso.com") == "https://dav.example.com/calendars/room-sync/mr-1/"
    assert "secret" not in repr(settings)


def test_capabilities_are_declared_honestly() -> None:
    declared = capabilities("caldav")
    assert declared.answers_requests and not declared.room_agent  # RoomSync writes the PARTSTAT; nothing else does
    assert declared.incremental_reads and declared.native_series and declared.strict_preconditions
    assert declared.create_idempotency.value == "ClientId" and declared.room_discovery


async def test_wrong_credentials_fail_the_whole_read_naming_the_auth(rig: Rig) -> None:
    store = rig.store(rig.client(password="wrong"))
    with pytest.raises(AuthenticationFailed, match=r"401.*spec.caldav.auth"):
        await store.read(WINDOW, full=True)


async def test_a_calendar_without_rights_makes_its_room_unreadable_naming_it(rig: Rig) -> None:
    rig.people.book(BEN, [R1], "Readable", at(1), at(1, 1))
    forbidden = f"{rig.server.url}ben/"  # Ben's own collection: the service account has no rights there
    client = rig.client(calendars=[{"room": R1, "url": rig.calendars[R1]}, {"room": R2, "url": forbidden}])
    snapshot = await rig.store(client, rooms=ROOMS[:2]).read(WINDOW, full=True)
    assert snapshot.unreadable_rooms == {"MR-2"} and [b.subject for b in snapshot.bookings] == ["Readable"]

    only_forbidden = rig.client(calendars=[{"room": R2, "url": forbidden}])
    with pytest.raises(
        CalendarAccessDenied,
        match=r"room mr-2@contoso.example, http://.*/ben/\): HTTP 403.*write rights on this room calendar",
    ):
        await rig.store(only_forbidden, rooms=ROOMS[1:2]).read(WINDOW, full=True)


async def test_a_room_without_a_calendar_is_unreadable_naming_the_room(rig: Rig) -> None:
    client = rig.client(calendars=[{"room": R1, "url": rig.calendars[R1]}])  # MR-2 and MR-3 are not listed
    snapshot = await rig.store(client).read(WINDOW, full=True)
    assert snapshot.unreadable_rooms == {"MR-2", "MR-3"}
    with pytest.raises(NotFound, match=re.escape("room mr-2@contoso.example has no calendar in spec.caldav.calendars")):
        await client.state(R2)


async def test_an_unreachable_server_is_backend_unavailable(rig: Rig) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nowhere = f"http://127.0.0.1:{port}/"
    client = rig.client(url=nowhere, calendars=[{"room": R1, "url": f"{nowhere}room-sync/x/"}])
    with pytest.raises(BackendUnavailable) as failed:
        await rig.store(client, rooms=ROOMS[:1]).read(WINDOW, full=True)
    text = str(failed.value)  # the URL and the operating system's reason, no urllib3 object repr
    assert f"{nowhere}room-sync/x/): the CalDAV server cannot be reached: connection refused" in text, text
    assert "object at 0x" not in text and "MaxRetryError" not in text


async def test_tls_is_verified_against_the_ca_bundle(tmp_path: Path) -> None:
    """A server with a private CA is trusted through caBundle; without it the connection is refused, never
    downgraded (verification cannot be switched off)."""
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    chain, key, ca_file = tmp_path / "chain.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    leaf.private_key_pem.write_to_path(str(key))
    chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    ca.cert_pem.write_to_path(str(ca_file))
    with RadicaleServer(USERS, failed_login_delay=0, folder=TMPFS, tls=(str(chain), str(key), str(ca_file))) as server:
        url = server.make_calendar("tls-room", time_zone="Europe/Amsterdam")
        spec = {
            "url": server.url,
            "auth": {"basic": {"username": "room-sync", **SECRET}},
            "calendars": [{"room": R1, "url": url}],
        }
        trusted = open_client({**spec, "caBundle": ca.cert_pem.bytes().decode()}, lambda name, key: SERVICE_PASSWORD)
        untrusted = open_client(spec, lambda name, key: SERVICE_PASSWORD)
        options = StoreOptions(roomsync="tests/tls")
        try:
            snapshot = await trusted.store(ROOMS[:1], options).read(WINDOW, full=True)
            assert snapshot.bookings == () and snapshot.complete
            with pytest.raises(BackendUnavailable, match=r"(?i)certificate|ssl"):
                await untrusted.store(ROOMS[:1], options).read(WINDOW, full=True)
        finally:
            await trusted.aclose()
            await untrusted.aclose()


async def test_a_bearer_token_is_sent_as_such(rig: Rig) -> None:
    """Radicale knows no bearer tokens: the request carrying one is refused as unauthenticated, naming the auth."""
    async with NoSyncProxy(rig.server.url, "hide") as proxy:
        through = [{"room": R1, "url": rig.calendars[R1].replace(rig.server.url, proxy.url)}]
        client = open_client(
            {"url": proxy.url, "auth": {"bearer": SECRET}, "calendars": through}, lambda name, key: "the-token"
        )
        try:
            with pytest.raises(AuthenticationFailed, match=r"spec\.caldav\.auth"):
                await client.store(ROOMS[:1], StoreOptions(roomsync="tests/bearer")).read(WINDOW, full=True)
        finally:
            await client.aclose()
        assert proxy.authorizations == ["Bearer the-token"]
