"""EWS change notifications: streaming subscriptions on the room calendars, many carried by one connection.

Exchange offers push, pull and streaming subscriptions (graph-and-ews.md 3.2). Streaming is the one that costs
nothing while nothing changes and needs no way in from Exchange to the cluster: the operator holds a
``GetStreamingEvents`` connection open and Exchange writes events down it as they happen (see docs/notifications.md
for the choice and the measured figures).

- Each room calendar gets a streaming subscription (``Subscribe`` impersonating the room, as every EWS call here);
  the subscriptions of a Connection are carried in *groups* of up to :data:`GROUP_SIZE` by ONE connection each,
  anchored on (impersonating) the group's first room, so held connections stay far below EWSMaxConcurrency.
- A connection lasts :data:`CONNECTION_MINUTES`, then Exchange closes it (``ConnectionStatus`` Closed) and it is
  opened again at once: nothing is lost (events are queued for a subscription between connections).
- An event only names the room whose calendar changed: it wakes that room's incremental ``SyncFolderItems`` read
  through :attr:`EwsStreams.sink`; nothing in it (not even its watermark) is taken as data.
- A dropped connection is opened again and its rooms are read once (events in flight may be lost); a subscription
  Exchange no longer knows (``ErrorSubscriptionNotFound``: it expired, the server restarted) is made again and its
  room read once.
- ``ErrorExceededConnectionCount`` (a connection) or ``ErrorExceededSubscriptionCount`` (a subscription) leave the
  rooms concerned without notifications: :meth:`EwsStreams.renew` then raises, so the keeper records the reason
  (``SubscriptionFailed``) and the RoomSync polls every ``spec.interval`` while the connection is retried with
  back-off; once it holds again, the rooms are read once and the keeper's next renewal succeeds.

The channel id RoomSync keeps is the room's first subscription id (one made again after an expiry replaces it
underneath, so the keeper's channel stays valid); a client that did not make a channel still unsubscribes it by that
id. Channels are held by this process only (:attr:`listable`: after a restart nothing is listed, so the keeper
subscribes every room anew - the old subscriptions expire on Exchange 30 minutes after their connection ended).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from exchangelib import errors as ews
from exchangelib.services import GetStreamingEvents, SubscribeToStreaming, Unsubscribe

from roomsync.connectors.base import BackendError, NotFound
from roomsync.connectors.ews.errors import BACKEND
from roomsync.connectors.ews.transport import current_call
from roomsync.connectors.push import Channel, NoticeKind

if TYPE_CHECKING:
    from roomsync.connectors.ews.client import EwsClient, MailboxFolders

log = logging.getLogger(__name__)

#: Subscriptions per streaming connection (Microsoft's guidance for grouping; [unconfirmed] in the reference).
GROUP_SIZE = 200
#: ConnectionTimeout asked for: Exchange's longest (1-30 minutes).
CONNECTION_MINUTES = 30
#: A connection that answers nothing for this long is taken as dropped (Exchange sends keep-alives in between).
READ_TIMEOUT = 120.0
#: A new connection that has not failed within this long is holding: older ones are let go, failures cleared.
SETTLE_SECONDS = 0.5
#: Back-off of a connection that cannot be opened.
FIRST_RETRY, LAST_RETRY = 1.0, 300.0
#: What a calendar reports: every change to an item (NewMail and FreeBusyChanged carry nothing more).
EVENT_TYPES = ("CreatedEvent", "ModifiedEvent", "DeletedEvent", "MovedEvent", "CopiedEvent")

#: Where a poke goes: (the channel's address, what to do, the channel id).
Sink = Callable[[str, NoticeKind, str], Awaitable[object]]


class StreamingFailed(BackendError):
    """The rooms of a group have no working connection (or a room no subscription): they are polled meanwhile."""


@dataclass
class Watched:
    channel: Channel
    subscription: str  # Exchange's current SubscriptionId
    failure: str = ""  # set while the room has no subscription (ErrorExceededSubscriptionCount)


@dataclass
class Group:
    anchor: str
    channels: set[str] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    failure: str = ""
    services: list[GetStreamingEvents] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class EwsStreams:
    """:class:`~roomsync.connectors.push.PushChannels` for one EWS client, delivering in-process to :attr:`sink`."""

    #: A streaming subscription lives as long as its connections do: the keeper's "renewal" is only a check, done
    #: when a third of this is left or at once when a poke asks for it (a failure); long, so that no keeper pass
    #: ever finds a channel expired and subscribes a second one beside it.
    max_lifetime = timedelta(days=7)
    renews_in_place = True
    listable = True

    def __init__(self, client: EwsClient) -> None:
        self.client = client
        self.sink: Sink | None = None
        self.watched: dict[str, Watched] = {}
        self.groups: list[Group] = []
        self._executor = ThreadPoolExecutor(thread_name_prefix="roomsync-ews-stream")
        self._pokes: set[asyncio.Task[object]] = set()
        #: events read from the connections so far (only counted: they are never taken as data)
        self.received = 0
        self._closed = False

    # -- the port ------------------------------------------------------------------------------------------------
    async def subscribe(self, room: str, address: str, secret: str, expires: Any) -> Channel:
        for earlier in [
            w.channel for w in self.watched.values() if (w.channel.room, w.channel.address) == (room, address)
        ]:
            await self.stop(earlier)  # replaced (the keeper forgot it): never two subscriptions for one address
        subscription = await self._subscribe(room)
        channel = Channel(room, subscription, expires, address)
        self.watched[channel.id] = Watched(channel, subscription)
        group = next((g for g in self.groups if len(g.channels) < GROUP_SIZE), None)
        if group is None:
            group = Group(anchor=room)
            self.groups.append(group)
        group.channels.add(channel.id)
        self._start(group)
        return channel

    async def renew(self, channel: Channel, expires: Any) -> Channel:
        watched = self.watched.get(channel.id)
        if watched is None:
            raise NotFound(f"streaming channel {channel.id} of {channel.room} is gone", backend=BACKEND)
        if watched.failure:  # no subscription yet: try again
            try:
                watched.subscription = await self._subscribe(channel.room)
            except BackendError as error:
                watched.failure = str(error)
                raise
            watched.failure = ""
            self._start(self._group_of(channel.id))
        group = self._group_of(channel.id)
        if group.failure:
            raise StreamingFailed(group.failure, backend=BACKEND)
        watched.channel = replace(watched.channel, expires=expires)
        return watched.channel

    async def stop(self, channel: Channel) -> None:
        watched = self.watched.pop(channel.id, None)
        subscription = channel.id  # a channel of another client (the pool reopened it): its first subscription
        if watched is not None:
            group = self._group_of(channel.id, remove=True)
            if group is not None:
                self._start(group)
            if watched.failure:
                return
            subscription = watched.subscription
        await self._unsubscribe(channel.room, subscription)

    async def _unsubscribe(self, room: str, subscription: str) -> None:
        try:
            await self.client.run(
                room, "Unsubscribe", lambda f: Unsubscribe(account=f.account).get(subscription_id=subscription)
            )
        except BackendError as error:
            if not isinstance(error.__cause__, ews.ErrorSubscriptionNotFound):
                raise
            log.debug("ews: %s: the subscription had expired already", room)

    async def listed(self, address_prefix: str) -> list[Channel]:
        return [w.channel for w in self.watched.values() if w.channel.address.startswith(address_prefix)]

    async def settled(self) -> None:
        """Every poke handed to the sink has been delivered (tests and benchmarks wait on it)."""
        while self._pokes:
            await asyncio.gather(*self._pokes, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop holding connections and unsubscribe (best effort: Exchange expires them 30 minutes later anyway)."""
        self._closed = True
        live = [(w.channel.room, w.subscription) for w in self.watched.values() if not w.failure]
        self.watched.clear()
        results = await asyncio.gather(*(self._unsubscribe(r, s) for r, s in live), return_exceptions=True)
        for failed in (r for r in results if isinstance(r, BaseException)):
            log.info("ews: unsubscribing on close failed: %s", failed)
        for group in self.groups:
            if group.task is not None:
                group.task.cancel()
            self._let_go(group, keep=0)
        for group in self.groups:
            if group.task is not None:
                await asyncio.gather(group.task, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)

    # -- subscriptions ---------------------------------------------------------------------------------------------
    async def _subscribe(self, room: str) -> str:
        def call(folders: MailboxFolders) -> str:
            # the service, not Folder.subscribe_to_streaming: the calendar is addressed by its distinguished id
            subscription: str = SubscribeToStreaming(account=folders.account).get(
                folders=[folders.calendar], event_types=EVENT_TYPES
            )
            return subscription

        return await self.client.run(room, "Subscribe", call)

    def _group_of(self, channel_id: str, *, remove: bool = False) -> Any:
        for group in self.groups:
            if channel_id in group.channels:
                if remove:
                    group.channels.discard(channel_id)
                return group
        return None

    # -- the connection of a group ---------------------------------------------------------------------------------
    def _start(self, group: Group) -> None:
        """(Re)open the group's connection with its current subscriptions (the new one takes them over)."""
        group.changed.set()
        if group.task is None or group.task.done():
            group.task = asyncio.create_task(self._hold(group), name=f"roomsync ews stream {group.anchor}")

    async def _hold(self, group: Group) -> None:
        loop = asyncio.get_running_loop()
        wait = FIRST_RETRY
        read_all = False  # after a drop: read every room of the group once
        while group.channels and not self._closed:
            group.changed.clear()
            ids = {self.watched[c].subscription: c for c in group.channels if not self.watched[c].failure}
            if not ids:
                await group.changed.wait()
                continue
            folders = await loop.run_in_executor(self._executor, self.client.folders, group.anchor)
            service = GetStreamingEvents(account=folders.account)
            group.services.append(service)
            running = loop.run_in_executor(self._executor, self._stream_in_thread, group.anchor, service, ids, loop)
            running.add_done_callback(_observed)
            done, _ = await asyncio.wait({running}, timeout=SETTLE_SECONDS)
            held = not done
            if held:  # holding: the older connections end (Closed), or are let go here
                self._let_go(group, keep=1)
                if group.failure or read_all:
                    log.info("ews: streaming for %d room(s) from %s holds again", len(ids), group.anchor)
                    self._poke_all(group, NoticeKind.MISSED)
                group.failure, read_all, wait = "", False, FIRST_RETRY
                changed: asyncio.Future[Any] = asyncio.ensure_future(group.changed.wait())
                pending: set[asyncio.Future[Any]] = {running, changed}
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
                if not running.done():  # a subscription joined or left: a new connection takes over
                    continue
            try:
                await running
            except ews.ErrorExceededConnectionCount as error:
                self._failed(group, f"ErrorExceededConnectionCount: {error}")
            except (ews.ErrorSubscriptionNotFound, ews.ErrorInvalidSubscription) as error:
                await self._resubscribe(group, set(ids.values()), error)
                read_all = False
                continue
            except Exception as error:  # dropped, reset, timed out, refused: open it again, then read the rooms
                if service not in group.services or self._closed:
                    continue  # let go on purpose
                log.info("ews: streaming connection of %s dropped: %s", group.anchor, error)
                read_all = True
                if held:
                    continue  # it held before: open it again at once
            else:
                continue  # Closed after ConnectionTimeout: open the next one at once
            finally:
                if service in group.services:
                    group.services.remove(service)
            try:
                async with asyncio.timeout(wait):
                    await group.changed.wait()
            except TimeoutError:
                pass
            wait = min(wait * 2, LAST_RETRY)

    def _stream_in_thread(
        self, anchor: str, service: GetStreamingEvents, ids: dict[str, str], loop: asyncio.AbstractEventLoop
    ) -> None:
        current_call.set(self.client.call_context(anchor, READ_TIMEOUT))
        for notification in service.call(subscription_ids=list(ids), connection_timeout=CONNECTION_MINUTES):
            channel_id = ids.get(notification.subscription_id)
            loop.call_soon_threadsafe(self._heard, channel_id, len(notification.events or ()))

    def _heard(self, channel_id: str | None, events: int) -> None:
        self.received += events
        if channel_id is not None:
            self._poke(channel_id, NoticeKind.CHANGED)

    def _let_go(self, group: Group, *, keep: int) -> None:
        """Close the group's older connections (all but the newest ``keep``) from this side."""
        older = group.services[: len(group.services) - keep] if keep else list(group.services)
        for service in older:
            group.services.remove(service)
            threading.Thread(target=_stop_quietly, args=(service,), daemon=True).start()

    def _failed(self, group: Group, reason: str) -> None:
        first = not group.failure
        group.failure = f"{reason} (streaming for {len(group.channels)} room(s) anchored on {group.anchor})"
        log.warning("ews: %s; polled meanwhile", group.failure)
        if first:
            self._poke_all(group, NoticeKind.RESUBSCRIBE)  # the keeper renews at once: the failure is recorded

    async def _resubscribe(self, group: Group, channel_ids: set[str], error: BaseException) -> None:
        """Exchange forgot subscriptions (expired, restarted): make them again and read their rooms once."""
        log.info("ews: streaming subscriptions of %s are gone (%s): subscribing again", group.anchor, error)
        for channel_id in sorted(channel_ids):
            watched = self.watched.get(channel_id)
            if watched is None:
                continue
            try:
                watched.subscription = await self._subscribe(watched.channel.room)
                watched.failure = ""
                self._poke(channel_id, NoticeKind.MISSED)
            except BackendError as failure:
                watched.failure = str(failure)
                self._poke(channel_id, NoticeKind.RESUBSCRIBE)

    # -- pokes -------------------------------------------------------------------------------------------------------
    def _poke_all(self, group: Group, kind: NoticeKind) -> None:
        for channel_id in sorted(group.channels):
            self._poke(channel_id, kind)

    def _poke(self, channel_id: str, kind: NoticeKind) -> None:
        watched = self.watched.get(channel_id)
        if watched is None or self.sink is None:
            return
        task = asyncio.ensure_future(self.sink(watched.channel.address, kind, channel_id))
        self._pokes.add(task)
        task.add_done_callback(self._poked)

    def _poked(self, task: asyncio.Task[object]) -> None:
        self._pokes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("ews: a streaming event could not wake its room: %s", task.exception())


def _observed(future: asyncio.Future[None]) -> None:
    """A connection let go may end with an error nobody awaits any more."""
    if not future.cancelled():
        future.exception()


def _stop_quietly(service: GetStreamingEvents) -> None:
    """Close a connection another thread is reading. Closing the response alone does not wake a blocked read, so
    the socket is shut down first (reached through requests/urllib3 attributes that are not public API: when they
    are missing the read ends at the next keep-alive instead)."""
    response = getattr(service, "_streaming_response", None)
    sock = getattr(getattr(getattr(response, "raw", None), "_connection", None), "sock", None)
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
        service.stop_streaming()
    except Exception as error:  # closing a response another thread reads: whatever it says, it is closed
        log.debug("ews: letting a streaming connection go: %s", error)


__all__ = ["EwsStreams", "Sink", "StreamingFailed"]
