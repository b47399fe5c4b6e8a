"""Addresses, their secrets, and whether a Connection notifies (``spec.notifications`` with the operator's defaults)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from roomsync.config.references import ResolvedConnection
from roomsync.connectors.registry import capabilities
from roomsync.sync.notify.addresses import (
    CLUSTER_CONNECTION,
    CONNECTION,
    Address,
    ConnectionKey,
    genuine,
    key_id,
    prefix,
    sign,
)
from roomsync.sync.notify.settings import Defaults, notify_settings

KEY = b"0123456789abcdef0123456789abcdef"
EXCHANGE = ConnectionKey(CONNECTION, "facilities", "exchange")
SHARED = ConnectionKey(CLUSTER_CONNECTION, "", "exchange-prod")


def test_an_address_names_connection_roomsync_and_room_and_reads_back_behind_any_base_path():
    address = Address.of_room("graph", EXCHANGE, ("facilities", "hq"), "MR-314@Contoso.com")
    url = address.url("https://roomsync.example.com/notifications/")
    assert (
        url == "https://roomsync.example.com/notifications/graph/facilities/exchange/facilities/hq/mr-314@contoso.com"
    )
    for path in (url.split(".com", 1)[1], "/graph/facilities/exchange/facilities/hq/mr-314@contoso.com"):
        assert Address.parse(path) == address, "an Ingress may keep or strip the base path"
    shared = Address.of_room("google", SHARED, ("team-a", "floor-2"), "room@contoso.example")
    assert shared.path == "google/-/exchange-prod/team-a/floor-2/room@contoso.example"
    assert Address.parse("/x/" + shared.path) == shared


def test_the_planon_trigger_address_and_paths_that_name_nothing():
    trigger = Address.trigger(ConnectionKey(CONNECTION, "facilities", "planon"))
    assert trigger.url("https://rs.example/n") == "https://rs.example/n/planon/facilities/planon/trigger"
    assert Address.parse("/n/planon/facilities/planon/trigger") == trigger
    assert Address.parse("/graph/facilities/exchange") is None
    assert Address.parse("/") is None


def test_a_secret_is_bound_to_its_address_and_key():
    one = Address.of_room("graph", EXCHANGE, ("facilities", "hq"), "a@contoso.com")
    other = Address.of_room("graph", EXCHANGE, ("facilities", "hq"), "b@contoso.com")
    secret = sign(KEY, one)
    assert secret.startswith("rs1.") and len(secret) <= 128, "Graph allows 128 characters of clientState"
    assert genuine(KEY, one, secret)
    assert not genuine(KEY, other, secret), "a secret captured for one room is worth nothing for another"
    assert not genuine(b"another key of sixteen bytes", one, secret)
    assert key_id(KEY) != key_id(b"another key") and KEY.hex() not in key_id(KEY)


def test_prefix_is_what_every_address_of_a_connection_or_roomsync_starts_with():
    address = Address.of_room("graph", EXCHANGE, ("facilities", "hq"), "a@contoso.com")
    url = address.url("https://rs.example/n")
    assert url.startswith(prefix("https://rs.example/n", "graph", EXCHANGE))
    assert url.startswith(prefix("https://rs.example/n", "graph", EXCHANGE, ("facilities", "hq")))
    assert not url.startswith(prefix("https://rs.example/n", "graph", EXCHANGE, ("facilities", "hq-2")))


def _connection(backend: str, notifications: dict[str, Any] | None = None, **secrets: str) -> ResolvedConnection:
    spec: dict[str, Any] = {backend: {}}
    if notifications is not None:
        spec["notifications"] = notifications
    data = {"notify": secrets} if secrets else {}
    return ResolvedConnection("facilities", backend, backend, spec, capabilities(backend), data, "f")


DEFAULTS = Defaults(url="https://rs.example/n", key=KEY)


@pytest.mark.parametrize("backend", ["graph", "google"])
def test_calendars_notify_by_default_once_a_url_and_a_key_are_known(backend):
    settings = notify_settings(_connection(backend), DEFAULTS)
    assert settings.enabled and settings.url == "https://rs.example/n" and settings.key == KEY
    assert settings.poll_interval == timedelta(minutes=15)
    assert notify_settings(_connection(backend), Defaults()).reason == "NoPublicUrl"
    assert notify_settings(_connection(backend), Defaults(url="https://rs.example/n")).reason == "NoSecret"


def test_a_connection_names_its_own_url_key_and_poll_interval_or_turns_notifications_off():
    ref = {"secretRef": {"name": "notify", "key": "key"}}
    own = _connection("graph", {"url": "https://other.example/n", "pollInterval": "5m", **ref}, key="own key 16 bytes!")
    settings = notify_settings(own, Defaults())
    assert (settings.enabled, settings.url, settings.key) == (True, "https://other.example/n", b"own key 16 bytes!")
    assert settings.poll_interval == timedelta(minutes=5)
    off = notify_settings(_connection("graph", {"enabled": False}), DEFAULTS)
    assert (off.enabled, off.reason) == (False, "Disabled")


def test_caldav_is_polled_and_says_so():
    settings = notify_settings(_connection("caldav"), DEFAULTS)
    assert (settings.enabled, settings.reason) == (False, "NotSupported")
    assert "polled every spec.interval" in settings.message


def test_planon_is_polled_unless_its_connection_names_the_trigger_token():
    polled = notify_settings(_connection("planon"), DEFAULTS)
    assert (polled.enabled, polled.reason) == (False, "NotConfigured")
    assert "docs/planon.md" in polled.message
    ref = {"secretRef": {"name": "notify", "key": "token"}}
    triggered = notify_settings(_connection("planon", ref, token="event-connector-token"), Defaults())
    assert triggered.enabled and triggered.key == b"event-connector-token", "the operator's URL is not needed"


def test_ews_streams_without_a_public_url_or_key_and_is_active():
    """The operator holds the streaming connection: nothing reaches the endpoint, so neither is needed."""
    settings = notify_settings(_connection("ews"), Defaults())
    assert (settings.enabled, settings.reason) == (True, "Active")
    assert settings.url == "in-process:" and settings.key, "addresses name the room inside the process only"
    assert notify_settings(_connection("ews"), Defaults()).key_id == settings.key_id, "stable: channels are kept"
    off = notify_settings(_connection("ews", {"enabled": False}), Defaults())
    assert (off.enabled, off.reason) == (False, "Disabled")
