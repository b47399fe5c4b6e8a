"""Streaming notifications as Exchange serves them: ``Subscribe`` with a ``StreamingSubscriptionRequest``,
``GetStreamingEvents`` (one long-lived chunked response carrying many subscriptions) and ``Unsubscribe``.

graph-and-ews.md (3.2, 3.3) names the operations, the exchangelib calls and the throttling errors
(``ErrorExceededConnectionCount``, ``ErrorExceededSubscriptionCount``) and is silent on the rest. The emulator's
choices, each [unconfirmed] (docs/notifications.md, "Exchange on-premises (EWS)"):

- A subscription watches one mailbox's calendar folder (the only folder with items here) for the event types asked
  (Created, Modified, Deleted, Moved, Copied are reported; NewMail and FreeBusyChanged never occur on a calendar
  here). It belongs to the account that made it; one ``GetStreamingEvents`` of that account may name
  subscriptions of many mailboxes (a *group*, impersonating one of them as its anchor); another account's id is
  ``ErrorSubscriptionAccessDenied``.
- A subscription lives while a connection names it and expires :data:`EXPIRY` (30 minutes) after its last
  connection ended; ``GetStreamingEvents`` then answers ``ErrorSubscriptionNotFound`` naming it in
  ``ErrorSubscriptionIds``. Events that happen while no connection is open are queued and sent on the next one.
- ``ConnectionTimeout`` is 1 to 30 minutes (else ``ErrorInvalidArgument``). The answer is chunked: first an envelope
  with ``ConnectionStatus`` OK, then one envelope per batch of events (a ``Notification`` per subscription), a
  keep-alive envelope (``ConnectionStatus`` OK) every :attr:`Streaming.heartbeat` seconds (30), and when the timeout
  is up one with ``ConnectionStatus`` Closed; then the response ends.
- Limits, per account: :attr:`Streaming.max_subscriptions` live subscriptions (EWSMaxSubscriptions; 5,000 here,
  ``ErrorExceededSubscriptionCount`` on Subscribe) and :attr:`Streaming.max_connections` open streaming connections
  (10 here, ``ErrorExceededConnectionCount`` as the connection's first message). A subscription named by a new
  connection leaves the connection that carried it (that one ends with ``ConnectionStatus`` Closed).
- ``drop`` (admin API) ends connections without a Closed message, as a failed load balancer or server would.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aiohttp import web

from roomsync.sandbox.ews import soap
from roomsync.sandbox.ews.operations import Call, _calendar, folder_id
from roomsync.sandbox.ews.soap import ItemError, SoapFault, error, m, response, sub, success, t
from roomsync.sandbox.graph.model import change_key

if TYPE_CHECKING:
    from roomsync.sandbox.graph.model import Mailbox

EXPIRY = timedelta(minutes=30)
EVENT_TYPES = frozenset({"CreatedEvent", "ModifiedEvent", "DeletedEvent", "MovedEvent", "CopiedEvent"})
ALL_EVENT_TYPES = EVENT_TYPES | {"NewMailEvent", "FreeBusyChangedEvent"}


@dataclass
class StreamEvent:
    kind: str
    item_id: str
    key: str
    watermark: str
    at: datetime


@dataclass
class StreamSubscription:
    id: str
    account: str
    mailbox: str
    event_types: frozenset[str]
    seen: dict[str, int]
    seen_clock: int
    last_connected: datetime
    watermark: str = ""
    queue: list[StreamEvent] = field(default_factory=list)
    connection: Connection | None = None


@dataclass(eq=False)
class Connection:
    account: str
    ids: tuple[str, ...]
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closing: str = ""  # "closed": end with ConnectionStatus Closed; "drop": end without a word


class Streaming:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now
        self.subscriptions: dict[str, StreamSubscription] = {}
        self.connections: list[Connection] = []
        self.max_subscriptions = 5000
        self.max_connections = 10
        self.heartbeat = 30.0
        #: events written to connections so far (tests compare it with what the client read)
        self.sent = 0
        self._watermarks = itertools.count(1)

    # -- Subscribe / Unsubscribe -------------------------------------------------------------------------------------
    def subscribe(self, call: Call, op: ET.Element) -> ET.Element:
        try:
            request = op.find(m("StreamingSubscriptionRequest"))
            if request is None:
                raise ItemError("ErrorInvalidRequest", "Only streaming subscriptions are emulated.")
            if request.get("SubscribeToAllFolders") == "true":
                raise ItemError("ErrorInvalidRequest", "Only the calendar folder can be subscribed in this emulator.")
            _calendar(call, request.find(t("FolderIds")))
            types = frozenset((e.text or "").strip() for e in request.iter(t("EventType")))
            if not types or not types <= ALL_EVENT_TYPES:
                raise ItemError(
                    "ErrorInvalidRequest", f"EventTypes must be among {', '.join(sorted(ALL_EVENT_TYPES))}."
                )
            account = _account(call)
            self._expire()
            if sum(1 for s in self.subscriptions.values() if s.account == account) >= self.max_subscriptions:
                raise ItemError(
                    "ErrorExceededSubscriptionCount",
                    "You have exceeded the maximum number of subscriptions that are allowed for your account.",
                )
        except ItemError as exc:
            return response("Subscribe", [error("Subscribe", exc.code, exc.message)])
        box = call.mailbox
        subscription = StreamSubscription(
            id="FQBzd" + secrets.token_urlsafe(30),
            account=account,
            mailbox=box.address,
            event_types=types & EVENT_TYPES,
            seen=_versions(box),
            seen_clock=box.clock,
            last_connected=self.now(),
            watermark=self._watermark(),
        )
        self.subscriptions[subscription.id] = subscription
        message = success("Subscribe")
        sub(message, m("SubscriptionId"), subscription.id)
        return response("Subscribe", [message])

    def unsubscribe(self, call: Call, op: ET.Element) -> ET.Element:
        sub_id = (op.findtext(m("SubscriptionId")) or "").strip()
        found = self.subscriptions.get(sub_id)
        if found is None or found.account != _account(call):
            return response(
                "Unsubscribe", [error("Unsubscribe", "ErrorSubscriptionNotFound", "The subscription was not found.")]
            )
        del self.subscriptions[sub_id]
        if found.connection is not None:
            found.connection.wake.set()
        return response("Unsubscribe", [success("Unsubscribe")])

    # -- change detection --------------------------------------------------------------------------------------------
    def changed(self, mailboxes: dict[str, Mailbox]) -> None:
        """After every request: queue the events of every subscribed mailbox that changed, wake its connection."""
        for subscription in self.subscriptions.values():
            box = mailboxes.get(subscription.mailbox)
            if box is None or box.clock == subscription.seen_clock:
                continue
            now_seen = _versions(box)
            events = [("CreatedEvent", i, v) for i, v in now_seen.items() if i not in subscription.seen]
            events += [
                ("ModifiedEvent", i, v)
                for i, v in now_seen.items()
                if i in subscription.seen and subscription.seen[i] != v
            ]
            events += [("DeletedEvent", i, v) for i, v in subscription.seen.items() if i not in now_seen]
            subscription.seen, subscription.seen_clock = now_seen, box.clock
            for kind, item_id, version in events:
                if kind in subscription.event_types:
                    subscription.queue.append(
                        StreamEvent(kind, item_id, change_key(item_id, version), self._watermark(), self.now())
                    )
            if subscription.queue and subscription.connection is not None:
                subscription.connection.wake.set()

    def _watermark(self) -> str:
        return f"AQAAA{next(self._watermarks):012d}="

    def _expire(self) -> None:
        cutoff = self.now() - EXPIRY
        for sub_id in [
            s.id for s in self.subscriptions.values() if s.connection is None and s.last_connected <= cutoff
        ]:
            del self.subscriptions[sub_id]

    def drop(self, mailbox: str | None = None) -> int:
        """End connections (those carrying ``mailbox``'s subscriptions, or all) without a Closed message."""
        dropped = 0
        for connection in self.connections:
            if mailbox is None or any(
                self.subscriptions.get(i) is not None and self.subscriptions[i].mailbox == mailbox
                for i in connection.ids
            ):
                connection.closing = "drop"
                connection.wake.set()
                dropped += 1
        return dropped

    def shutdown(self) -> None:
        """The server stops: every connection ends with ``ConnectionStatus`` Closed."""
        for connection in self.connections:
            connection.closing = connection.closing or "closed"
            connection.wake.set()

    def expire_all(self, mailbox: str | None = None) -> int:
        """Forget subscriptions (as Exchange does after a restart or a mailbox move); their connections are dropped."""
        gone = [s for s in self.subscriptions.values() if mailbox is None or s.mailbox == mailbox]
        for subscription in gone:
            del self.subscriptions[subscription.id]
            if subscription.connection is not None:
                subscription.connection.closing = "drop"
                subscription.connection.wake.set()
        return len(gone)

    # -- GetStreamingEvents -----------------------------------------------------------------------------------------
    def open(self, call: Call, op: ET.Element) -> tuple[Connection | None, ET.Element | None, float]:
        """(the connection, or the error answer instead; the connection's timeout in seconds)."""
        ids = tuple((e.text or "").strip() for e in op.iter(t("SubscriptionId")))
        try:
            minutes = int(op.findtext(m("ConnectionTimeout")) or "0")
        except ValueError:
            minutes = 0
        if not ids:
            return None, _streaming_error("ErrorInvalidRequest", "No subscription was named.", ()), 0
        if not 1 <= minutes <= 30:
            raise SoapFault("ErrorInvalidArgument", "ConnectionTimeout must be 1 to 30 minutes.")
        account = _account(call)
        self._expire()
        missing = tuple(i for i in ids if i not in self.subscriptions)
        if missing:
            return None, _streaming_error("ErrorSubscriptionNotFound", "The subscription was not found.", missing), 0
        foreign = tuple(i for i in ids if self.subscriptions[i].account != account)
        if foreign:
            return (
                None,
                _streaming_error(
                    "ErrorSubscriptionAccessDenied", "The subscription belongs to another account.", foreign
                ),
                0,
            )
        for sub_id in ids:  # a new connection takes its subscriptions over: the old one ends (Closed)
            previous = self.subscriptions[sub_id].connection
            if previous is not None and previous in self.connections and set(previous.ids) <= set(ids):
                self.connections.remove(previous)
        if sum(1 for c in self.connections if c.account == account) >= self.max_connections:
            return (
                None,
                _streaming_error(
                    "ErrorExceededConnectionCount",
                    "You have exceeded the available concurrent connections for your account.",
                    (),
                ),
                0,
            )
        connection = Connection(account, ids)
        for sub_id in ids:
            previous = self.subscriptions[sub_id].connection
            if previous is not None and not previous.closing:
                previous.closing = "closed"
                previous.wake.set()
            self.subscriptions[sub_id].connection = connection
        self.connections.append(connection)
        return connection, None, minutes * 60.0

    async def serve(self, request: web.Request, call: Call, op: ET.Element) -> web.StreamResponse:
        connection, answer, seconds = self.open(call, op)
        if connection is None:
            assert answer is not None
            return web.Response(
                body=soap.to_bytes(soap.envelope(answer)), content_type="text/xml", charset="utf-8", status=200
            )
        stream = web.StreamResponse(status=200, headers={"Content-Type": "text/xml; charset=utf-8"})
        stream.enable_chunked_encoding()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        try:
            await stream.prepare(request)
            await stream.write(_document(_status("OK")))
            while True:
                batch = self._take(connection)
                if batch is not None:
                    await stream.write(_document(batch))
                    continue
                if connection.closing == "drop":
                    assert request.transport is not None
                    request.transport.abort()
                    return stream
                left = deadline - loop.time()
                if connection.closing == "closed" or left <= 0 or self._all_gone(connection):
                    await stream.write(_document(_status("Closed")))
                    await stream.write_eof()
                    return stream
                connection.wake.clear()
                try:
                    async with asyncio.timeout(min(self.heartbeat, left)):
                        await connection.wake.wait()
                except TimeoutError:
                    if loop.time() < deadline:
                        await stream.write(_document(_status("OK")))
        except ConnectionResetError:  # the client went away (aiohttp's ClientConnectionResetError is one)
            return stream
        finally:
            self._close(connection)

    def _all_gone(self, connection: Connection) -> bool:
        return all(self.subscriptions.get(i) is None for i in connection.ids)

    def _take(self, connection: Connection) -> ET.Element | None:
        """The queued events of the connection's subscriptions as one answer (removed from the queues), or None."""
        pending = [
            s
            for i in connection.ids
            if (s := self.subscriptions.get(i)) is not None and s.connection is connection and s.queue
        ]
        if not pending:
            return None
        message = success("GetStreamingEvents")
        notifications = sub(message, m("Notifications"))
        for subscription in pending:
            notification = sub(notifications, m("Notification"))
            sub(notification, t("SubscriptionId"), subscription.id)
            sub(notification, t("PreviousWatermark"), subscription.watermark)
            sub(notification, t("MoreEvents"), False)
            parent = folder_id(subscription.mailbox, "calendar")
            for event in subscription.queue:
                elem = sub(notification, t(event.kind))
                sub(elem, t("Watermark"), event.watermark)
                sub(elem, t("TimeStamp"), event.at)
                sub(elem, t("ItemId"), Id=event.item_id, ChangeKey=event.key)
                sub(elem, t("ParentFolderId"), Id=parent, ChangeKey="AQAAAA==")
                subscription.watermark = event.watermark
            self.sent += len(subscription.queue)
            subscription.queue.clear()
        return response("GetStreamingEvents", [message])

    def _close(self, connection: Connection) -> None:
        if connection in self.connections:
            self.connections.remove(connection)
        now = self.now()
        for sub_id in connection.ids:
            subscription = self.subscriptions.get(sub_id)
            if subscription is not None and subscription.connection is connection:
                subscription.connection = None
                subscription.last_connected = now


def _account(call: Call) -> str:
    if call.principal is None:
        raise SoapFault("ErrorAccessDenied", "No account.")
    return call.principal.name


def _versions(box: Mailbox) -> dict[str, int]:
    return {event.id: event.version for event in box.events.values()}


def _status(status: str) -> ET.Element:
    message = success("GetStreamingEvents")
    sub(message, m("ConnectionStatus"), status)
    return response("GetStreamingEvents", [message])


def _streaming_error(code: str, text: str, ids: tuple[str, ...]) -> ET.Element:
    message = error("GetStreamingEvents", code, text)
    if ids:
        listed = sub(message, m("ErrorSubscriptionIds"))
        for sub_id in ids:
            sub(listed, m("SubscriptionId"), sub_id)
    sub(message, m("ConnectionStatus"), "Closed")
    return response("GetStreamingEvents", [message])


def _document(content: ET.Element) -> bytes:
    return soap.to_bytes(soap.envelope(content))
