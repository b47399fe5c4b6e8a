"""The HTTP endpoint vendors notify: answer handshakes, check every notification's secret, wake the rooms concerned.

One handler for every address (see :mod:`.addresses`): the path names the backend, the Connection and the room.

1. An address of no known Connection with notifications on: 404 (nothing is echoed for strangers).
2. Graph's validation request (``?validationToken=``): the token, as ``text/plain``, at once (Graph waits 10 s).
3. Each notice's secret is checked: Graph's ``clientState`` and Google's channel token against the HMAC of the
   address, Planon's bearer token against the Connection's token. A wrong one is refused (counted, logged, never
   acted on); a request with nothing genuine in it gets 403 (401 for a missing bearer token).
4. The rest wake the room(s) through the :class:`Router`: only which room, never what the body says changed. When
   the router cannot record a wake-up (the API server is down) the answer is 503, so the vendor delivers again
   (Graph retries for hours, Google with back-off): a notification is either recorded or retried, and if it is
   finally lost, the safety-net poll still reads the room.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from roomsync.connectors.push import Inbound, NoticeKind, Received, UnreadableNotification
from roomsync.connectors.registry import notice_reader
from roomsync.sync.notify.addresses import Address, ConnectionKey, genuine
from roomsync.sync.notify.settings import NotifySettings

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # Graph batches; far below this


@dataclass(frozen=True)
class Wake:
    """A verified notification: which Connection; which RoomSync and room calendar (calendars) or which
    reservation units (Planon; none named: every room of the Connection); what to do; the channel it came by."""

    connection: ConnectionKey
    backend: str
    kind: NoticeKind
    roomsync: tuple[str, str] | None = None
    calendar: str | None = None
    units: tuple[str, ...] = ()
    channel: str = ""
    resource: str = ""


class Settings(Protocol):
    async def __call__(self, connection: ConnectionKey, backend: str) -> NotifySettings | None:
        """The Connection's notification settings, ``None`` when it does not exist or is another backend."""
        ...


class Router(Protocol):
    async def deliver(self, wake: Wake) -> int:
        """Wake the RoomSync(s) concerned; the number woken. Raises when a wake-up could not be recorded."""
        ...


class Counter(Protocol):
    def __call__(self, backend: str, outcome: str, count: int = 1) -> None: ...


def _no_count(backend: str, outcome: str, count: int = 1) -> None:
    return None


class Receiver:
    def __init__(self, settings: Settings, router: Router, count: Counter = _no_count) -> None:
        self.settings = settings
        self.router = router
        self.count = count

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/healthz", self._health), web.post("/{tail:.*}", self.handle)]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.add_routes(self.routes())
        return app

    async def _health(self, _: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def handle(self, request: web.Request) -> web.Response:
        address = Address.parse(request.path)
        reader: Callable[[Inbound], Received] | None = None
        settings = None
        if address is not None:
            reader = notice_reader(address.backend)
            if reader is not None:
                settings = await self.settings(address.connection, address.backend)
        if address is None or reader is None or settings is None or not settings.enabled or not settings.key:
            self.count(address.backend if address else "", "unknown")
            return web.Response(status=404, text="no notifications are expected here\n")
        if (address.backend == "planon") != (address.roomsync is None):
            self.count(address.backend, "unknown")
            return web.Response(status=404, text="no notifications are expected here\n")
        inbound = Inbound(
            method=request.method,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.read(),
        )
        try:
            received = reader(inbound)
        except UnreadableNotification as error:
            self.count(address.backend, "malformed")
            return web.Response(status=400, text=f"not a {address.backend} notification: {error}\n")
        if received.handshake is not None:
            self.count(address.backend, "handshake")
            return web.Response(text=received.handshake, content_type="text/plain")
        return await self._notices(address, settings.key, received)

    async def _notices(self, address: Address, key: bytes, received: Received) -> web.Response:
        backend = address.backend
        accepted = [n for n in received.notices if self._genuine(address, key, n.secret)]
        refused = len(received.notices) - len(accepted)
        if refused:
            self.count(backend, "refused", refused)
            log.warning(
                "%s: refused %d notification(s) with a wrong secret for %s", address.connection, refused, address.path
            )
        if not accepted:
            if backend == "planon":
                return web.Response(
                    status=401, text="wrong or missing bearer token\n", headers={"WWW-Authenticate": "Bearer"}
                )
            return web.Response(status=403, text="wrong secret\n")
        woken = 0
        for notice in accepted:
            if notice.kind is NoticeKind.CONFIRMED:
                self.count(backend, "confirmed")
                continue
            wake = Wake(
                address.connection,
                backend,
                notice.kind,
                roomsync=address.roomsync,
                calendar=None if address.roomsync is None else address.leaf,
                units=notice.rooms,
                channel=notice.channel,
                resource=notice.resource,
            )
            try:
                woken += await self.router.deliver(wake)
            except Exception as error:  # the vendor must deliver again: nothing may be lost here
                log.warning("%s: could not record a wake-up for %s: %s", address.connection, address.path, error)
                self.count(backend, "unrouted")
                return web.Response(status=503, text="try again later\n")
            self.count(backend, "accepted" if notice.kind is NoticeKind.CHANGED else notice.kind.value.lower())
        return web.Response(status=202, text=f"{woken} RoomSync(s) woken\n")

    async def local(self, url: str, kind: NoticeKind, channel: str = "") -> None:
        """A notification that came down a connection the operator holds itself (EWS streaming): there is no secret
        to check (nobody else can send it); the channel's address names the room, and it is routed like any other.
        A wake-up that cannot be recorded is lost here (the backend cannot deliver again): the safety-net poll reads
        the room."""
        address = Address.parse(url)
        if address is None or address.roomsync is None:
            self.count("", "unknown")
            return
        wake = Wake(address.connection, address.backend, kind, address.roomsync, address.leaf, channel=channel)
        try:
            await self.router.deliver(wake)
        except Exception as error:
            log.warning("%s: could not record a wake-up for %s: %s", address.connection, address.path, error)
            self.count(address.backend, "unrouted")
            return
        self.count(address.backend, "accepted" if kind is NoticeKind.CHANGED else kind.value.lower())

    @staticmethod
    def _genuine(address: Address, key: bytes, presented: str) -> bool:
        if not presented:
            return False
        if address.backend == "planon":
            return hmac.compare_digest(presented.encode(), key)
        return genuine(key, address, presented)
