"""One RoomSync's notification channels on its calendar side: one per room calendar, alive and no more than that.

Each pass (after a cycle) the keeper

- on its first pass, finds what an earlier run left: the channels saved in the RoomSync's status (the cluster's own
  store: Google channels cannot be listed) and, where the backend can list them (Graph), the live channels whose
  address is one of its rooms'; one per room is adopted, duplicates are stopped, so a restart leaks nothing;
- subscribes rooms without a channel (and asks for that room to be read once: changes made before the channel
  existed were never notified);
- renews a channel once less than a third of its lifetime is left (Graph: PATCH in place; Google: a new channel,
  then the old one stopped) - days before it would expire; replaces a channel the backend removed or asked to be
  re-authorised (lifecycle notifications), or that was made with a key that has since changed;
- stops the channels of rooms that left the RoomSync (and, when notifications are switched off, all of them).

A room whose subscription fails is retried with back-off (1 minute doubling to 30); until it has a live channel the
RoomSync is not *active* and polls at its ``spec.interval``. Nothing here ever decides what to sync.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from roomsync.connectors.base import BackendError, NotFound
from roomsync.connectors.push import Channel, PushChannels
from roomsync.sync.notify.addresses import Address, ConnectionKey, prefix, sign
from roomsync.sync.notify.settings import ACTIVE, NotifySettings

log = logging.getLogger(__name__)

SUBSCRIPTION_FAILED = "SubscriptionFailed"
#: Rooms subscribed or renewed at once (each Graph subscription waits for its validation handshake).
CONCURRENT = 8
FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(minutes=30)


@dataclass(frozen=True)
class Kept:
    channel: Channel
    key_id: str

    def saved(self) -> str:
        """``<id> <resourceId or -> <expires> <key id> <address digest>``: what survives a restart in the RoomSync's
        status. The digest tells, after a restart, whether the channel still delivers to the current address."""
        c = self.channel
        return f"{c.id} {c.resource_id or '-'} {c.expires.isoformat()} {self.key_id or '-'} {_digest(c.address)}"

    @classmethod
    def restore(cls, room: str, text: str, address: str) -> Kept | None:
        """A saved channel; its address is ``address`` when the digest matches it, else unknown (``""``): the
        public URL changed while the operator was away, so the keeper stops it by its id and makes a new one."""
        try:
            channel_id, resource_id, expires, key, digest = text.split(" ")
            when = datetime.fromisoformat(expires)
        except ValueError:
            return None
        resource = "" if resource_id == "-" else resource_id
        where = address if digest == _digest(address) else ""
        return cls(Channel(room, channel_id, when, where, resource), "" if key == "-" else key)


def _digest(address: str) -> str:
    return hashlib.sha256(address.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class KeeperState:
    """What the status says about one side's notifications."""

    active: bool
    reason: str
    message: str
    channels: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ChannelKeeper:
    connection: ConnectionKey
    backend: str
    roomsync: tuple[str, str]  # (namespace, name): channels are this RoomSync's, by their address
    kept: dict[str, Kept] = field(default_factory=dict)  # room calendar address -> its channel
    failures: dict[str, str] = field(default_factory=dict)
    retry_at: dict[str, tuple[datetime, timedelta]] = field(default_factory=dict)
    #: rooms whose channel must be renewed or replaced at once (Graph lifecycle notifications)
    resubscribe: set[str] = field(default_factory=set)
    restored: bool = False

    def restore(self, saved: Mapping[str, str], base_url: str | None) -> None:
        """Adopt the channels an earlier run saved in status (done once, before the first pass)."""
        for room, text in saved.items():
            address = Address.of_room(self.backend, self.connection, self.roomsync, room).url(base_url or "")
            kept = Kept.restore(room.casefold(), str(text), address)
            if kept is not None:
                self.kept.setdefault(kept.channel.room, kept)

    async def keep(
        self, push: PushChannels, settings: NotifySettings, calendars: Collection[str], now: datetime
    ) -> set[str]:
        """Bring the channels in line with ``calendars``; returns the calendars newly subscribed (read them once)."""
        if not settings.enabled or settings.url is None or settings.key is None:
            await self._stop_all(push)
            return set()
        wanted = {c.casefold() for c in calendars}
        if not self.restored:
            await self._adopt(push, settings, wanted)
            self.restored = True
        for room in sorted(set(self.kept) - wanted):
            await self._stop(push, self.kept.pop(room))
            self.failures.pop(room, None)
        fresh: set[str] = set()
        slots = asyncio.Semaphore(CONCURRENT)

        async def one(room: str) -> None:
            async with slots:
                try:
                    if await self._keep_one(push, settings, room, now):
                        fresh.add(room)
                except BackendError as error:
                    self._failed(room, error, now)
                else:
                    self.failures.pop(room, None)
                    self.retry_at.pop(room, None)

        due = [r for r in sorted(wanted) if r not in self.retry_at or self.retry_at[r][0] <= now]
        await asyncio.gather(*(one(room) for room in due))
        return fresh

    def state(self, settings: NotifySettings, calendars: Collection[str], now: datetime) -> KeeperState:
        channels = {room: kept.saved() for room, kept in sorted(self.kept.items())}
        if not settings.enabled:
            return KeeperState(False, settings.reason, settings.message, channels)
        wanted = {c.casefold() for c in calendars}
        live = {room for room, kept in self.kept.items() if kept.channel.expires > now and room in wanted}
        if self.failures:
            room, error = sorted(self.failures.items())[0]
            message = (
                f"{len(wanted) - len(live)} of {len(wanted)} room calendar(s) without notifications, polled every "
                f"spec.interval; first: {room}: {error}"
            )
            return KeeperState(False, SUBSCRIPTION_FAILED, message, channels)
        if live != wanted:
            missing = sorted(wanted - live)
            return KeeperState(False, "Pending", f"not subscribed yet: {', '.join(missing[:5])}", channels)
        return KeeperState(True, ACTIVE, f"{len(live)} room calendar(s) notify changes", channels)

    # -- one room ---------------------------------------------------------------------------------------------------
    async def _keep_one(self, push: PushChannels, settings: NotifySettings, room: str, now: datetime) -> bool:
        assert settings.url is not None and settings.key is not None
        address = Address.of_room(self.backend, self.connection, self.roomsync, room)
        url = address.url(settings.url)
        kept = self.kept.get(room)
        lifetime = push.max_lifetime
        if kept is not None and (kept.key_id != settings.key_id or kept.channel.address != url):
            log.info("%s: replacing the channel of %s (key or address changed)", self.connection, room)
            await self._stop(push, self.kept.pop(room))
            kept = None
        if kept is not None and kept.channel.expires <= now:
            self.kept.pop(room)  # the backend has dropped it by now
            kept = None
        if kept is None:
            channel = await push.subscribe(room, url, sign(settings.key, address), now + lifetime)
            self.kept[room] = Kept(channel, settings.key_id)
            self.resubscribe.discard(room)
            log.info("%s: %s notifies changes until %s", self.connection, room, channel.expires.isoformat())
            return True
        if room not in self.resubscribe and kept.channel.expires - now > lifetime / 3:
            return False
        if push.renews_in_place:
            try:
                renewed = await push.renew(kept.channel, now + lifetime)
            except NotFound:
                self.kept.pop(room)  # removed by the backend (subscriptionRemoved): a new one, and read the room
                channel = await push.subscribe(room, url, sign(settings.key, address), now + lifetime)
                self.kept[room] = Kept(channel, settings.key_id)
                self.resubscribe.discard(room)
                return True
            self.kept[room] = Kept(renewed, kept.key_id)
        else:  # a new channel first, then the old one stopped: the two overlap, nothing falls between them
            channel = await push.subscribe(room, url, sign(settings.key, address), now + lifetime)
            self.kept[room] = Kept(channel, settings.key_id)
            await self._stop(push, kept)
        self.resubscribe.discard(room)
        return False

    def _failed(self, room: str, error: BackendError, now: datetime) -> None:
        previous = self.retry_at.get(room)
        wait = FIRST_RETRY if previous is None else min(previous[1] * 2, LAST_RETRY)
        self.retry_at[room] = (now + wait, wait)
        self.failures[room] = str(error)
        log.warning("%s: notifications for %s failed (retrying in %s): %s", self.connection, room, wait, error)

    # -- restarts and clean-up --------------------------------------------------------------------------------------
    async def _adopt(self, push: PushChannels, settings: NotifySettings, wanted: set[str]) -> None:
        """Graph: the live subscriptions at this RoomSync's addresses; one per room it still has is kept, every
        other one (a duplicate, a room that left while the operator was away) is deleted."""
        if not push.listable or settings.url is None:
            return
        try:
            listed = await push.listed(prefix(settings.url, self.backend, self.connection, self.roomsync))
        except BackendError as error:
            log.warning("%s: listing subscriptions failed (those saved in status are used): %s", self.connection, error)
            return
        saved_keys = {kept.channel.id: kept.key_id for kept in self.kept.values()}
        by_room: dict[str, list[Channel]] = {}
        for channel in listed:
            by_room.setdefault(channel.room, []).append(channel)
        # Saved at the current address but no longer listed: expired or removed while we were away. Saved at an
        # earlier address (the URL changed): not under this prefix, still ours by its id - stopped and replaced.
        moved = {room: kept for room, kept in self.kept.items() if not kept.channel.address}
        self.kept.clear()
        for room, kept in moved.items():
            if room in by_room:
                await self._stop(push, kept)
            else:
                self.kept[room] = kept
        for room, channels in by_room.items():
            channels.sort(key=lambda c: (c.id in saved_keys, c.expires), reverse=True)
            extra = channels
            if room in wanted:
                self.kept[room] = Kept(channels[0], saved_keys.get(channels[0].id, settings.key_id))
                extra = channels[1:]
            for channel in extra:
                await self._stop(push, Kept(channel, ""))

    async def _stop_all(self, push: PushChannels | None) -> None:
        for room in sorted(self.kept):
            kept = self.kept.pop(room)
            if push is not None:
                await self._stop(push, kept)
        self.failures.clear()
        self.retry_at.clear()

    async def close(self, push: PushChannels | None) -> None:
        """The RoomSync is gone: stop every channel it had."""
        await self._stop_all(push)

    async def _stop(self, push: PushChannels, kept: Kept) -> None:
        try:
            await push.stop(kept.channel)
        except BackendError as error:  # it expires by itself; until then its notifications only wake a read
            log.warning("%s: stopping channel %s failed: %s", self.connection, kept.channel.id, error)
