"""Google Calendar push notifications: one ``events.watch`` channel per room calendar, and what Google posts back.

Facts (google-calendar.md 6): ``POST calendars/{id}/events/watch {id, type: web_hook, address, token, expiration}``
answers ``{id, resourceId, resourceUri, token, expiration}``; a channel cannot be renewed: a new one (new id) is made
before the old expires and the old is stopped (``channels.stop {id, resourceId}``); channels cannot be listed, so the
keeper keeps their ids and resource ids in the RoomSync's status. The default maximum lifetime is given as 7 days
[unconfirmed]: RoomSync asks for :data:`LIFETIME` and renews by what Google answers.

Messages have no body; their headers say which channel (``X-Goog-Channel-ID``), the token it was made with
(``X-Goog-Channel-Token``) and the state: ``sync`` (the first message of a new channel - it may arrive before the
watch's answer), ``exists`` or ``not_exists`` (something changed: read with the sync token).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from roomsync.connectors.base import InvalidResponse, NotFound
from roomsync.connectors.push import Channel, Inbound, Notice, NoticeKind, Received, UnreadableNotification

if TYPE_CHECKING:
    from roomsync.connectors.google.client import GoogleClient

LIFETIME = timedelta(days=7)
STATES = {"sync": NoticeKind.CONFIRMED, "exists": NoticeKind.CHANGED, "not_exists": NoticeKind.CHANGED}


def new_channel_id() -> str:
    """Unique per project, at most 64 characters of ``[A-Za-z0-9\\-_+/=]``."""
    return "roomsync-" + secrets.token_urlsafe(24)


class GoogleChannels:
    """:class:`~roomsync.connectors.push.PushChannels` for one Google client (the delegated booking user)."""

    max_lifetime = LIFETIME
    renews_in_place = False
    listable = False

    def __init__(self, client: GoogleClient) -> None:
        self.client = client

    async def subscribe(self, room: str, address: str, secret: str, expires: datetime) -> Channel:
        calendar = room.casefold()
        body = {
            "id": new_channel_id(),
            "type": "web_hook",
            "address": address,
            "token": secret,
            "expiration": str(int(expires.timestamp() * 1000)),
        }
        request = self.client.calendar_service.events().watch(calendarId=calendar, body=body)
        answer = await self.client.caller.call(calendar, calendar, "events.watch", request, f"watching {calendar}")
        try:
            expiration = datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)
            return Channel(calendar, str(answer["id"]), expiration, address, str(answer["resourceId"]))
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidResponse(f"watching {calendar}: unreadable channel {answer!r}", backend="google") from error

    async def renew(self, channel: Channel, expires: datetime) -> Channel:
        raise NotImplementedError("Google channels are replaced, not renewed (renews_in_place is False)")

    async def stop(self, channel: Channel) -> None:
        request = self.client.calendar_service.channels().stop(
            body={"id": channel.id, "resourceId": channel.resource_id}
        )
        try:
            await self.client.caller.call(
                channel.room, channel.room, "channels.stop", request, f"stopping {channel.id}"
            )
        except NotFound:
            return  # expired or stopped already

    async def listed(self, address_prefix: str) -> list[Channel]:
        raise NotImplementedError("Google channels cannot be listed (listable is False)")


def read_notices(request: Inbound) -> Received:
    """One message per request, from its headers (there is no body)."""
    channel = request.headers.get("x-goog-channel-id")
    state = request.headers.get("x-goog-resource-state")
    if not channel or not state:
        raise UnreadableNotification("X-Goog-Channel-ID and X-Goog-Resource-State are required")
    kind = STATES.get(state.casefold(), NoticeKind.CHANGED)
    notice = Notice(
        secret=request.headers.get("x-goog-channel-token", ""),
        kind=kind,
        channel=channel,
        resource=request.headers.get("x-goog-resource-id", ""),
    )
    return Received(notices=(notice,))
