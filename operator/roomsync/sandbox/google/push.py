"""Google Calendar push notifications as Google sends them (google-calendar.md 6).

- ``POST calendars/{id}/events/watch {id, type: web_hook, address, token?, expiration?, params?}`` answers
  ``{kind: api#channel, id, resourceId, resourceUri, token, expiration}``. The address must be https (400
  ``push.webhookUrlNotHttps``); the id at most 64 characters of ``[A-Za-z0-9-_+/=]`` and unique (400
  ``channelIdNotUnique``); the token at most 256 characters. Expiration: what was asked, at most the emulator's
  choice of the default maximum, **7 days** [unconfirmed]; 7 days when none is asked.
- The first message of a channel is ``sync`` (message number 1), sent right after the channel is made: it may reach
  the subscriber before the watch's answer does.
- After every request that changed a watched calendar, each of its channels sends ``exists``. Messages have no body;
  headers ``X-Goog-Channel-ID``, ``X-Goog-Message-Number`` (increasing, not sequential), ``X-Goog-Resource-ID``,
  ``X-Goog-Resource-State``, ``X-Goog-Resource-URI``, and ``X-Goog-Channel-Expiration`` (RFC 1123) and
  ``X-Goog-Channel-Token`` when set; user agent ``APIs-Google``.
- 200, 201, 202, 204 or 102 acknowledge; 500, 502, 503 and 504 are retried with back-off; anything else is a failure
  (not retried). A channel past its expiration sends nothing and is gone.
- ``POST channels/stop {id, resourceId}``: 204; an unknown channel (or a wrong resourceId) 404.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from roomsync.sandbox.google.calendars import ApiError, bad
from roomsync.sandbox.google.model import Calendar
from roomsync.sandbox.outbound import Delivery, Outbound, delivery_admin_routes

if TYPE_CHECKING:
    from roomsync.sandbox.google.server import SandboxState

MAX_LIFETIME = timedelta(days=7)
ACKNOWLEDGED = frozenset({102, 200, 201, 202, 204})
RETRIED = frozenset({500, 502, 503, 504})
USER_AGENT = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"
_CHANNEL_ID = re.compile(r"^[A-Za-z0-9\-_+/=]{1,64}$")


@dataclass
class WatchChannel:
    id: str
    calendar: str
    resource_id: str
    resource_uri: str
    address: str
    token: str | None
    expires: datetime
    number: int = 0
    seen_clock: int = 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": "api#channel",
            "id": self.id,
            "resourceId": self.resource_id,
            "resourceUri": self.resource_uri,
            "expiration": str(int(self.expires.timestamp() * 1000)),
        }
        if self.token is not None:
            data["token"] = self.token
        return data


def resource_id(calendar: str) -> str:
    """An opaque, stable id of "the events of this calendar"."""
    return hashlib.sha1(f"events:{calendar}".encode()).hexdigest()[:27]


class Push:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.channels: dict[str, WatchChannel] = {}
        self.outbound = Outbound(acknowledged=ACKNOWLEDGED.__contains__, retried=RETRIED.__contains__)

    def now(self) -> datetime:
        return datetime.now(UTC)

    # -- the API --------------------------------------------------------------------------------------------------
    def watch(self, calendar: Calendar, body: Any, origin: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad("Invalid channel.")
        channel_id, address = str(body.get("id") or ""), str(body.get("address") or "")
        if str(body.get("type") or "").lower() not in ("web_hook", "webhook"):
            raise bad("Invalid channel type.", "type")
        if not _CHANNEL_ID.match(channel_id):
            raise bad(f"Invalid channel id: {channel_id!r}.", "id")
        self._expire()
        if channel_id in self.channels:
            raise ApiError(400, "channelIdNotUnique", f"Channel id {channel_id} not unique")
        if not address.startswith("https://"):
            raise ApiError(400, "push.webhookUrlNotHttps", f"WebHook callback must be HTTPS: {address}")
        token = body.get("token")
        if token is not None and len(str(token)) > 256:
            raise bad("Channel token too long.", "token")
        now = self.now()
        expires = now + MAX_LIFETIME
        if body.get("expiration"):
            try:
                asked = datetime.fromtimestamp(int(body["expiration"]) / 1000, UTC)
            except (TypeError, ValueError):
                raise bad("Invalid expiration.", "expiration") from None
            if asked <= now:
                raise bad("Expiration is in the past.", "expiration")
            expires = min(asked, expires)
        channel = WatchChannel(
            id=channel_id,
            calendar=calendar.id,
            resource_id=resource_id(calendar.id),
            resource_uri=f"{origin}/calendar/v3/calendars/{calendar.id}/events?alt=json",
            address=address,
            token=str(token) if token is not None else None,
            expires=expires,
            seen_clock=calendar.clock,
        )
        self.channels[channel_id] = channel
        self._send(channel, "sync")
        return channel.to_json()

    def stop(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise bad("Invalid channel.")
        channel = self.channels.get(str(body.get("id") or ""))
        if channel is None or channel.resource_id != str(body.get("resourceId") or ""):
            raise ApiError(404, "notFound", f"Channel '{body.get('id')}' not found for project 'roomsync-sandbox'")
        del self.channels[channel.id]

    # -- deliveries -----------------------------------------------------------------------------------------------
    def _expire(self) -> None:
        now = self.now()
        for channel_id in [c.id for c in self.channels.values() if c.expires <= now]:
            del self.channels[channel_id]

    def changed(self) -> None:
        """After a request: one ``exists`` message per channel of every calendar that changed."""
        if not self.channels:
            return
        self._expire()
        calendars = self.state.calendars.calendars
        for channel in list(self.channels.values()):
            calendar = calendars.get(channel.calendar)
            if calendar is not None and calendar.clock != channel.seen_clock:
                channel.seen_clock = calendar.clock
                self._send(channel, "exists")

    def _send(self, channel: WatchChannel, state: str) -> None:
        channel.number = 1 if state == "sync" else channel.number + random.randint(1, 3)
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": format_datetime(channel.expires, usegmt=True),
            "X-Goog-Message-Number": str(channel.number),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-State": state,
            "X-Goog-Resource-URI": channel.resource_uri,
            "User-Agent": USER_AGENT,
            "Content-Length": "0",
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        self.outbound.send(Delivery(channel.address, b"", headers, f"{channel.id} {state}"))

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Requests that may have changed a calendar (the API's writes, people in Google Calendar) are followed by
        the messages they cause."""
        try:
            return await handler(request)  # type: ignore[no-any-return]
        finally:
            if request.method != "GET":
                self.changed()

    async def aclose(self) -> None:
        await self.outbound.aclose()

    # -- admin ----------------------------------------------------------------------------------------------------
    def admin_routes(self) -> list[web.RouteDef]:
        return [
            web.get("/_admin/channels", self._admin_list),
            *delivery_admin_routes(self.outbound),
        ]

    async def _admin_list(self, _: web.Request) -> web.Response:
        """The push notification channels Google holds, per calendar."""
        self._expire()
        return web.json_response(
            [c.to_json() | {"calendar": c.calendar, "address": c.address} for c in self.channels.values()]
        )
