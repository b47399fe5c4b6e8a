"""From a Connection's spec to a shared client, and from a client to a per-RoomSync store.

Each backend package (``roomsync.connectors.<backend>``) exposes one function::

    def open_client(spec: Mapping[str, Any], secrets: SecretLookup, *, namespace: str = "default") -> Client

where ``spec`` is the backend's part of the Connection (``spec.planon``, ``spec.graph``, ...). A ``Client`` holds
what RoomSyncs sharing the Connection share (HTTP session, token cache, per-mailbox concurrency limits, request
counters) and makes the per-RoomSync store::

    client.store(rooms: Sequence[RoomPair], options: StoreOptions) -> BookingStore

A backend that sends change notifications also exposes ``read_notices(Inbound) -> Received``
(:mod:`roomsync.connectors.push`), and a calendar backend's client has ``push``.

Backends are imported lazily so the CLI starts fast and a missing optional dependency only hurts its own backend.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from roomsync.connectors.base import Capabilities, Client, SecretLookup, SecretNotFound, StoreOptions
from roomsync.connectors.push import Inbound, Received

__all__ = ["BACKENDS", "CALENDAR_BACKENDS", "SecretLookup", "SecretNotFound", "StoreOptions", "UnsupportedBackend"]

BACKENDS: dict[str, str] = {
    "planon": "roomsync.connectors.planon",
    "graph": "roomsync.connectors.graph",
    "ews": "roomsync.connectors.ews",
    "google": "roomsync.connectors.google",
    "caldav": "roomsync.connectors.caldav",
}
CALENDAR_BACKENDS = ("graph", "ews", "google", "caldav")


class UnsupportedBackend(ValueError):
    """A Connection names a backend this build does not implement yet."""


def backend_of(connection_spec: Mapping[str, Any]) -> str:
    """The one backend key a Connection spec holds (the CRD guarantees exactly one)."""
    keys = [k for k in connection_spec if k in BACKENDS or k in CALENDAR_BACKENDS or k == "planon"]
    if len(keys) != 1:
        raise UnsupportedBackend(f"a Connection needs exactly one backend, found {keys or 'none'}")
    return keys[0]


def capabilities(backend: str) -> Capabilities:
    """What a backend can do, without opening it (validation uses this before any credentials exist)."""
    module_name = BACKENDS.get(backend)
    if module_name is None:
        raise UnsupportedBackend(f"backend {backend!r} is not implemented in this release")
    declared: Capabilities = importlib.import_module(module_name).CAPABILITIES
    return declared


def notice_reader(backend: str) -> Callable[[Inbound], Received] | None:
    """How to read what ``backend`` posts to the notification receiver (``None``: it sends nothing)."""
    module_name = BACKENDS.get(backend)
    if module_name is None:
        return None
    reader: Callable[[Inbound], Received] | None = getattr(importlib.import_module(module_name), "read_notices", None)
    return reader


def open_client(connection_spec: Mapping[str, Any], secrets: SecretLookup, *, namespace: str = "default") -> Client:
    backend = backend_of(connection_spec)
    module_name = BACKENDS.get(backend)
    if module_name is None:
        raise UnsupportedBackend(f"backend {backend!r} is not implemented in this release")
    module = importlib.import_module(module_name)
    client: Client = module.open_client(connection_spec[backend], secrets, namespace=namespace)
    return client
