"""Run the Google Workspace sandbox in-process on loopback (plain HTTP, an ephemeral port).

async with GoogleSandbox(rooms=[{"email": "mr-1@contoso.example", "booking": "addAll"}]) as sb:
    spec, secrets = sb.connection_spec()        # a Connection ``spec.google`` and its secret values
    await sb.admin.book(...)                     # a person books rooms in Google Calendar

Plain HTTP is what google-auth and google-api-python-client accept for a ``token_uri``/``api_endpoint`` on
loopback; the connector refuses ``http://`` anywhere else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from roomsync.sandbox.google.admin import INDEX, AdminApi
from roomsync.sandbox.google.api import Api
from roomsync.sandbox.google.auth import Identity, ServiceAccount
from roomsync.sandbox.google.calendars import Calendars
from roomsync.sandbox.google.model import Calendar, Settings
from roomsync.sandbox.google.push import Push
from roomsync.sandbox.google.traffic import Traffic

DEFAULT_DOMAIN = "contoso.example"
CUSTOMER_ID = "C03az79cb"
GRANTED = frozenset(
    {
        "https://www.googleapis.com/auth/calendar.events",
        "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly",
    }
)


@dataclass
class SandboxState:
    """Everything the emulated Workspace domain holds."""

    identity: Identity
    settings: Settings = field(default_factory=Settings)
    traffic: Traffic = field(default_factory=Traffic)
    #: users with "Make changes to events" on every room calendar (None: every user of the domain)
    room_writers: set[str] | None = None
    admins: set[str] = field(default_factory=set)
    customer_id: str = CUSTOMER_ID
    calendars: Calendars = field(init=False)
    push: Push = field(init=False)

    def __post_init__(self) -> None:
        self.calendars = Calendars(self.settings, lambda: datetime.now(UTC))
        self.push = Push(self)

    def add_room(self, data: Mapping[str, Any]) -> Calendar:
        email = str(data["email"]).strip().casefold()
        existing = self.calendars.calendars.get(email)
        room = existing or Calendar(id=email, kind="room", name=str(data.get("name") or email.split("@")[0]))
        room.kind = "room"
        room.name = str(data.get("name") or room.name)
        room.time_zone = str(data.get("timeZone") or room.time_zone)
        room.resource_id = room.resource_id or f"{abs(hash(email)) % 10**11:011d}"
        room.capacity = data.get("capacity", room.capacity)
        room.building = str(data.get("building", room.building))
        room.floor = str(data.get("floor", room.floor))
        room.features = tuple(data.get("features", room.features))
        room.category = str(data.get("category", room.category))
        booking = str(data.get("booking", room.booking))
        if booking not in ("autoAccept", "addAll"):
            raise ValueError(f"booking {booking!r} is not autoAccept or addAll")
        room.booking = booking
        room.auto_replace = bool(data.get("autoReplace", room.auto_replace))
        return self.calendars.add(room)

    def user(self, email: str, time_zone: str | None = None) -> Calendar:
        """A person's primary calendar (made on first use, like a new Workspace account)."""
        key = email.strip().casefold()
        found = self.calendars.calendars.get(key)
        if found is None:
            found = self.calendars.add(
                Calendar(id=key, kind="user", name=key.split("@")[0].title(), time_zone=time_zone or "UTC")
            )
        self.identity.users.add(key)
        return found


class GoogleSandbox:
    """An emulated Google Workspace domain (Calendar API, Directory resources, OAuth) on one HTTP port."""

    def __init__(
        self,
        rooms: Iterable[Mapping[str, Any]] = (),
        *,
        domain: str = DEFAULT_DOMAIN,
        booking_user: str | None = None,
        admin_user: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        time_zone: str = "Europe/Amsterdam",
        notification_ca: str | None = None,
    ) -> None:
        """``notification_ca``: a CA the push deliveries trust besides the system store (a test's)."""
        self.host, self.port = host, port
        self.domain = domain
        self.booking_user = (booking_user or f"roomsync@{domain}").casefold()
        self.admin_user = (admin_user or f"admin@{domain}").casefold()
        self.state = SandboxState(identity=Identity(domain))
        self.account = ServiceAccount.generate("roomsync@roomsync-sandbox.iam.gserviceaccount.com")
        identity = self.state.identity
        identity.accounts[self.account.email] = self.account
        identity.delegation[self.account.client_id] = GRANTED
        self.state.user(self.booking_user, time_zone)
        self.state.user(self.admin_user, time_zone)
        self.state.admins.add(self.admin_user)
        self.state.traffic.latency = latency
        if notification_ca:
            self.state.push.outbound.trust(notification_ca)
        for room in rooms:
            self.state.add_room({"timeZone": time_zone, **room})
        self._runner: web.AppRunner | None = None
        self.admin: Any = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024, middlewares=[self.state.push.middleware])
        app.add_routes(AdminApi(self).routes())
        INDEX.install(app)
        app.add_routes(self.state.push.admin_routes())
        app.add_routes(Api(self.state).routes())
        return app

    async def start(self) -> None:
        from roomsync.sandbox.google.client import SandboxAdmin

        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.admin = SandboxAdmin(self.origin)

    async def stop(self) -> None:
        await self.state.push.aclose()
        if self.admin is not None:
            await self.admin.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> GoogleSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def token_uri(self) -> str:
        return f"{self.origin}/token"

    def key_file(self) -> dict[str, str]:
        return self.account.key_file(self.token_uri)

    def connection_spec(self, secret_name: str = "google-sandbox") -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
        """The ``spec.google`` of a Connection pointing here, and the secret values it refers to."""
        spec = {
            "subject": self.booking_user,
            "directorySubject": self.admin_user,
            "customer": "my_customer",
            "auth": {"serviceAccountKey": {"secretRef": {"name": secret_name, "key": "key.json"}}},
            "apiEndpoint": self.origin,
            "tokenUri": self.token_uri,
        }
        return spec, {(secret_name, "key.json"): json.dumps(self.key_file())}
