"""From a Connection's spec to a shared client, and from a client to a per-RoomSync store.

Each backend package (``roomsync.connectors.<backend>``) exposes one function::

    def open_client(spec: Mapping[str, Any], secrets: SecretLookup, *, namespace: str = "default") -> Client

where ``spec`` is the backend's part of the Connection (``spec.planon``, ``spec.graph``, ...). A ``Client`` holds
what RoomSyncs sharing the Connection share (HTTP session, token cache, per-mailbox concurrency limits, request
counters) and makes the per-RoomSync store::

    client.store(rooms: Sequence[RoomPair], options: StoreOptions) -> BookingStore

Backends are imported lazily so the CLI starts fast and a missing optional dependency only hurts its own backend.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from roomsync.connectors.base import BookingStore
from roomsync.model import RoomPair, Side

#: (secret name, key) -> value; raises :class:`SecretNotFound` naming what is missing.
SecretLookup = Callable[[str, str], str]

BACKENDS: dict[str, str] = {
    "planon": "roomsync.connectors.planon",
    "graph": "roomsync.connectors.graph",
}
CALENDAR_BACKENDS = ("graph", "ews", "google", "caldav")


class SecretNotFound(LookupError):
    """A Secret, or a key in it, that a Connection refers to does not exist."""


class UnsupportedBackend(ValueError):
    """A Connection names a backend this build does not implement yet."""


@dataclass(frozen=True)
class StoreOptions:
    """What a store needs from the RoomSync beyond its rooms."""

    roomsync: str  # namespace/name, used in deterministic transaction ids and log lines
    leader: Side = Side.PLANON
    send_invitations: bool = True  # whether creates/changes that people see notify the attendees
    invitations: str | None = None  # spec.invitations (OrganizerOnly, None, All); None: from send_invitations


class Client(Protocol):
    backend: str

    def store(self, rooms: Sequence[RoomPair], options: StoreOptions) -> BookingStore: ...

    async def aclose(self) -> None: ...


def backend_of(connection_spec: Mapping[str, Any]) -> str:
    """The one backend key a Connection spec holds (the CRD guarantees exactly one)."""
    keys = [k for k in connection_spec if k in BACKENDS or k in CALENDAR_BACKENDS or k == "planon"]
    if len(keys) != 1:
        raise UnsupportedBackend(f"a Connection needs exactly one backend, found {keys or 'none'}")
    return keys[0]


def open_client(connection_spec: Mapping[str, Any], secrets: SecretLookup, *, namespace: str = "default") -> Client:
    backend = backend_of(connection_spec)
    module_name = BACKENDS.get(backend)
    if module_name is None:
        raise UnsupportedBackend(f"backend {backend!r} is not implemented in this release")
    module = importlib.import_module(module_name)
    client: Client = module.open_client(connection_spec[backend], secrets, namespace=namespace)
    return client
