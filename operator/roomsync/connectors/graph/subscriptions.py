"""Graph change notifications: subscriptions on each room mailbox's events, and what Graph posts back.

Subscriptions (graph-and-ews.md 1.9), through msgraph-sdk's ``/subscriptions`` request builders:

- ``POST /subscriptions`` with ``changeType: created,updated,deleted``, ``resource: /users/{room}/events``, the
  ``notificationUrl`` and ``lifecycleNotificationUrl`` (the same per-room address: a lifecycle event is told apart by
  its ``lifecycleEvent`` field), a ``clientState`` secret and an expiration. Graph validates the URL first (the
  receiver echoes ``validationToken``) and only then answers 201.
- Lifetime: the reference gives 4,230 minutes for Outlook resources in one revision of Graph's documentation and
  10,080 in the live one [unconfirmed]. Asking for :data:`LIFETIME` (4,200 minutes) works under both; Graph may
  answer a shorter expiration, which is what the keeper then renews by.
- Renewal: ``PATCH /subscriptions/{id} {expirationDateTime}`` (a 404 means Graph removed it: a new one is made).
- Restarts: ``GET /subscriptions`` lists the app's subscriptions; the keeper adopts those whose notificationUrl is
  its own and deletes duplicates, so a restart leaks nothing.

Every request is made in the room's mailbox context, so ``RequestCounts`` attributes renewals to their room.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from msgraph.generated.models.subscription import Subscription

from roomsync.connectors.base import InvalidResponse, NotFound
from roomsync.connectors.graph.errors import graph_errors
from roomsync.connectors.graph.transport import current_mailbox
from roomsync.connectors.push import Channel, Inbound, Notice, NoticeKind, Received, UnreadableNotification

if TYPE_CHECKING:
    from roomsync.connectors.graph.client import GraphClient

#: What RoomSync asks for: below both documented maxima for Outlook resources (4,230 and 10,080 minutes).
LIFETIME = timedelta(minutes=4200)
CHANGE_TYPES = "created,updated,deleted"
LIFECYCLE = {
    "reauthorizationrequired": NoticeKind.RESUBSCRIBE,
    "subscriptionremoved": NoticeKind.RESUBSCRIBE,
    "missed": NoticeKind.MISSED,
}
_RESOURCE = re.compile(r"^/?users/([^/]+)/(?:calendar/)?events$", re.IGNORECASE)


class GraphPush:
    """:class:`~roomsync.connectors.push.PushChannels` for one Graph client (one app registration)."""

    max_lifetime = LIFETIME
    renews_in_place = True
    listable = True

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    @property
    def _subscriptions(self) -> Any:
        return self.client.graph.subscriptions

    async def subscribe(self, room: str, address: str, secret: str, expires: datetime) -> Channel:
        body = Subscription(
            change_type=CHANGE_TYPES,
            notification_url=address,
            lifecycle_notification_url=address,
            resource=f"/users/{room}/events",
            expiration_date_time=expires.astimezone(UTC),
            client_state=secret,
        )
        token = current_mailbox.set(room.casefold())
        try:
            async with graph_errors(f"subscribing to {room}'s events"):
                made = await self._subscriptions.post(body)
        finally:
            current_mailbox.reset(token)
        return _channel(made, f"subscribing to {room}'s events")

    async def renew(self, channel: Channel, expires: datetime) -> Channel:
        token = current_mailbox.set(channel.room.casefold())
        try:
            async with graph_errors(f"renewing the subscription on {channel.room}"):
                renewed = await self._subscriptions.by_subscription_id(channel.id).patch(
                    Subscription(expiration_date_time=expires.astimezone(UTC))
                )
        finally:
            current_mailbox.reset(token)
        if renewed is None or renewed.expiration_date_time is None:
            return Channel(channel.room, channel.id, expires, channel.address)
        return Channel(channel.room, channel.id, _aware(renewed.expiration_date_time), channel.address)

    async def stop(self, channel: Channel) -> None:
        token = current_mailbox.set(channel.room.casefold())
        try:
            async with graph_errors(f"deleting the subscription on {channel.room}"):
                await self._subscriptions.by_subscription_id(channel.id).delete()
        except NotFound:
            return  # already gone (expired, or removed by Graph)
        finally:
            current_mailbox.reset(token)

    async def listed(self, address_prefix: str) -> list[Channel]:
        found: list[Channel] = []
        async with graph_errors("listing subscriptions"):
            page = await self._subscriptions.get()
            while page is not None:
                for item in page.value or []:
                    if (item.notification_url or "").startswith(address_prefix) and item.resource:
                        match = _RESOURCE.match(item.resource)
                        if match is not None and item.id and item.expiration_date_time:
                            room = unquote(match.group(1)).casefold()
                            expires = _aware(item.expiration_date_time)
                            found.append(Channel(room, item.id, expires, str(item.notification_url)))
                link = page.odata_next_link
                page = await self._subscriptions.with_url(link).get() if link else None
        return found


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _channel(made: Subscription | None, what: str) -> Channel:
    if made is None or not made.id or made.expiration_date_time is None or not made.resource:
        raise InvalidResponse(f"{what}: Graph answered no subscription id or expiration", backend="graph")
    match = _RESOURCE.match(made.resource)
    room = unquote(match.group(1)).casefold() if match else made.resource
    return Channel(room, made.id, _aware(made.expiration_date_time), str(made.notification_url or ""))


def read_notices(request: Inbound) -> Received:
    """A validation request (``?validationToken=``, to be echoed as text/plain within 10 s), or a batch of change
    and lifecycle notifications. Only the subscription id, clientState and the kind of event are used."""
    token = request.query.get("validationToken")
    if token is not None:
        return Received(handshake=token)  # already URL-decoded by the server
    try:
        payload = json.loads(request.body or b"null")
    except ValueError as error:
        raise UnreadableNotification(f"the body is not JSON: {error}") from error
    items = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        raise UnreadableNotification("expected {'value': [notifications]}")
    notices = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise UnreadableNotification(f"value[{index}] is not an object")
        lifecycle = str(item.get("lifecycleEvent") or "")
        kind = LIFECYCLE.get(lifecycle.casefold(), NoticeKind.CHANGED) if lifecycle else NoticeKind.CHANGED
        notices.append(
            Notice(secret=str(item.get("clientState") or ""), kind=kind, channel=str(item.get("subscriptionId") or ""))
        )
    return Received(notices=tuple(notices))
