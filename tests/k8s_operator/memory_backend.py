"""A test backend: Connections whose ``planon``/``graph`` blocks open in-memory stores instead of HTTP clients.

The operator tests exercise the Kubernetes side (references, Secrets, status, events, deletion), not the
connectors, so both sides are :class:`~roomsync.connectors.memory.MemoryStore` instances kept in :data:`SYSTEMS`,
keyed by the Connection's ``url`` (Planon) or ``tenantId`` (Graph). The Connection's Secret must hold
:data:`PASSWORD`; any other value makes every store call fail with ``AuthenticationFailed``, the way a rotated
password does. Each client counts its calls in ``requests`` (:class:`RequestCounts`), which the metrics harvest
reads. Like the real backends, the Graph side discovers rooms (the rooms its calendar has bookings in) and the
Planon side does not. Every write is also logged in :data:`WRITES` with the client that made it and the loop time,
so tests with several replicas can tell which replica wrote what, for which RoomSync, and when.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from roomsync.connectors.base import (
    AuthenticationFailed,
    Capabilities,
    RequestCounts,
    RoomInfo,
    SecretLookup,
    StoreOptions,
)
from roomsync.connectors.memory import MemoryStore
from roomsync.model import Booking, Link, Response, RoomPair, Side, Snapshot, Window

PASSWORD = "s3cret"
#: What the memory backend declares (a calendar that answers requests, like Exchange), for validation.
CAPABILITIES = Capabilities(answers_requests=True, room_agent=True)
SYSTEMS: dict[str, MemoryStore] = {}
CLIENTS: list[MemoryClient] = []
WRITE_OPERATIONS = frozenset({"create", "update", "cancel", "respond", "relink"})


@dataclass(frozen=True)
class Write:
    client: MemoryClient
    side: Side
    operation: str
    rooms: frozenset[str]  # the rooms of the RoomSync whose store wrote
    at: float  # event-loop time


WRITES: list[Write] = []
#: Event-loop time at which each calendar read started, and how long a calendar read takes (a slow mailbox).
CALENDAR_READS: list[float] = []
CALENDAR_READ_SECONDS = 0.0


def system(key: str, side: Side) -> MemoryStore:
    if key not in SYSTEMS:
        SYSTEMS[key] = MemoryStore(side)
    return SYSTEMS[key]


def _secret_ref(spec: Mapping[str, Any]) -> Mapping[str, str]:
    auth = spec.get("auth") or {}
    for method in ("accessKey", "clientSecret", "certificate"):
        if method in auth:
            ref: Mapping[str, str] = auth[method]["secretRef"]
            return ref
    raise ValueError("this test backend needs auth.accessKey or auth.clientSecret")


def open_client(spec: Mapping[str, Any], secrets: SecretLookup, *, namespace: str = "default") -> MemoryClient:
    ref = _secret_ref(spec)
    password = secrets(ref["name"], ref["key"])
    if "url" in spec:
        client = MemoryClient(system(str(spec["url"]), Side.PLANON), password)
    else:
        client = MemoryClient(system(str(spec["tenantId"]), Side.CALENDAR), password)
    CLIENTS.append(client)
    return client


class MemoryClient:
    backend = "memory"

    def __init__(self, store: MemoryStore, password: str) -> None:
        self.memory = store
        self.capabilities: Capabilities = replace(store.capabilities, room_discovery=store.side is Side.CALENDAR)
        self.password = password
        self.requests = RequestCounts()
        self.closed = False

    def store(self, rooms: Sequence[RoomPair], options: StoreOptions) -> GuardedStore:
        return GuardedStore(self, frozenset(r.key for r in rooms))

    async def rooms(self) -> list[RoomInfo]:
        if self.password != PASSWORD:
            self.requests.add("", "rooms", 401)
            raise AuthenticationFailed("the credentials were rejected (401)", backend=self.backend)
        self.requests.add("", "rooms", 200)
        return sorted({RoomInfo(room) for b in self.memory.bookings.values() for room in b.rooms}, key=lambda r: r.key)

    async def aclose(self) -> None:
        self.closed = True


class GuardedStore:
    """The shared MemoryStore seen through one RoomSync's rooms, behind a password check, counting every call."""

    def __init__(self, client: MemoryClient, rooms: frozenset[str]) -> None:
        self.client = client
        self.rooms = rooms
        self.side = client.memory.side
        self.backend = client.backend
        self.capabilities = client.capabilities

    def _call(self, operation: str) -> MemoryStore:
        if self.client.password != PASSWORD:
            self.client.requests.add("", operation, 401)
            raise AuthenticationFailed("the credentials were rejected (401)", backend=self.backend)
        self.client.requests.add("", operation, 200)
        if operation in WRITE_OPERATIONS:
            at = asyncio.get_running_loop().time()
            WRITES.append(Write(self.client, self.side, operation, self.rooms, at))
        return self.client.memory

    async def read(self, window: Window, *, full: bool, rooms: Collection[str] | None = None) -> Snapshot:
        memory = self._call("read")
        if self.side is Side.CALENDAR:
            CALENDAR_READS.append(asyncio.get_running_loop().time())
            await asyncio.sleep(CALENDAR_READ_SECONDS)
        snapshot = await memory.read(window, full=full, rooms=rooms)
        return replace(snapshot, bookings=tuple(b for b in snapshot.bookings if b.rooms & self.rooms))

    async def lookup(self, ids: Collection[str]) -> dict[str, Booking]:
        return await self._call("lookup").lookup(ids)

    async def create(self, booking: Booking) -> Booking:
        return await self._call("create").create(booking)

    async def update(self, current: Booking, desired: Booking, fields: Sequence[str]) -> Booking:
        return await self._call("update").update(current, desired, fields)

    async def cancel(self, current: Booking, reason: str) -> None:
        await self._call("cancel").cancel(current, reason)

    async def respond(self, current: Booking, response: Response, comment: str) -> None:
        await self._call("respond").respond(current, response, comment)

    async def relink(self, current: Booking, link: Link) -> None:
        await self._call("relink").relink(current, link)

    async def aclose(self) -> None:
        return None
