"""Keeps one RoomSync's stores and decides when a cycle reads everything.

Shared by ``roomsync sync`` and the operator. The only memory it has is *when* the last full read happened; losing
it (a restart) just means the next cycle is a full read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from datetime import datetime

from roomsync.config.references import Inputs, ResolvedConnection
from roomsync.config.roomsync import RoomSyncConfig
from roomsync.connectors.base import BookingStore, Client, StoreOptions
from roomsync.connectors.registry import open_client
from roomsync.model import Side
from roomsync.sync.cycle import CycleResult, run_cycle


class ClientPool:
    """One client per Connection (and credentials), shared by every RoomSync that uses it.

    Sharing is what makes per-mailbox concurrency limits and token caches hold across RoomSyncs. A changed spec or
    rotated Secret yields a different fingerprint, so the next cycle gets a fresh client and the old one is closed.
    """

    def __init__(self, opener: Callable[..., Client] = open_client) -> None:
        self._opener = opener
        self._clients: dict[tuple[str, str], tuple[str, Client]] = {}
        self._lock = asyncio.Lock()

    async def get(self, connection: ResolvedConnection) -> Client:
        key = (connection.namespace, connection.name)
        async with self._lock:
            current = self._clients.get(key)
            if current is not None and current[0] == connection.fingerprint:
                return current[1]
            client = self._opener(connection.spec, connection.lookup, namespace=connection.namespace)
            self._clients[key] = (connection.fingerprint, client)
        if current is not None:
            await current[1].aclose()
        return client

    def clients(self) -> list[Client]:
        return [client for _, client in self._clients.values()]

    async def aclose(self) -> None:
        clients, self._clients = self.clients(), {}
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)


class RoomSyncRunner:
    """Runs cycles for one RoomSync; decides full vs incremental reads."""

    def __init__(self, config: RoomSyncConfig, stores: Mapping[Side, BookingStore]) -> None:
        self.config = config
        self.stores = dict(stores)
        limits = stores[Side.PLANON].capabilities.limits.narrowest(stores[Side.CALENDAR].capabilities.limits)
        self.policy = replace(config.policy, limits=limits)
        self.last_full: datetime | None = None

    @classmethod
    async def open(cls, config: RoomSyncConfig, pool: ClientPool, inputs: Inputs) -> RoomSyncRunner:
        options = StoreOptions(
            roomsync=config.key,
            leader=config.policy.leader,
            invitations=config.invitations,
        )
        stores = {}
        for side in (Side.PLANON, Side.CALENDAR):
            client = await pool.get(inputs.connections[side])
            stores[side] = client.store(list(config.rooms), options)
        return cls(config, stores)

    def full_read_due(self, now: datetime) -> bool:
        return self.last_full is None or now - self.last_full >= self.config.full_resync_interval

    async def cycle(
        self,
        now: datetime,
        *,
        force_full: bool = False,
        dry_run: bool | None = None,
        changed_rooms: Collection[str] | None = None,
    ) -> CycleResult:
        """One cycle; ``changed_rooms`` narrows the reads to rooms a notification named (never for a full read)."""
        full = force_full or self.full_read_due(now)
        result = await run_cycle(
            self.config.key,
            self.policy,
            list(self.config.rooms),
            self.stores,
            now,
            full=full,
            dry_run=self.config.dry_run if dry_run is None else dry_run,
            changed_rooms=None if full else changed_rooms,
            connections={Side.PLANON: self.config.planon_connection, Side.CALENDAR: self.config.calendar_connection},
        )
        if full and result.error is None:
            self.last_full = now
        return result
