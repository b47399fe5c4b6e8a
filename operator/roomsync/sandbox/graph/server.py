"""Run the Graph sandbox in-process on loopback with an ephemeral port, over HTTPS with a fresh CA.

async with GraphSandbox(rooms=["mr-1@contoso.com"]) as sb:
    spec, secrets = sb.connection_spec()          # a Connection ``spec.graph`` and its secret values
    await sb.admin.book_in_outlook(...)
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from roomsync.sandbox.graph import admin, tls
from roomsync.sandbox.graph.admin import AdminApi
from roomsync.sandbox.graph.api import GraphApi
from roomsync.sandbox.graph.calendar import Calendars
from roomsync.sandbox.graph.delta import DeltaTokens
from roomsync.sandbox.graph.identity import Identity
from roomsync.sandbox.graph.model import Mailbox, Processing
from roomsync.sandbox.graph.notifications import Notifications
from roomsync.sandbox.graph.traffic import Traffic

DEFAULT_TENANT = "8f4c1a5e-3b1d-4c7e-9a3f-5d2b6e0c1f7a"
DEFAULT_CLIENT = "0d9b7e2c-6a4f-4e1b-8c3d-2f5a7b9e1c40"
DEFAULT_SECRET = "sandbox-secret-value"


@dataclass
class SandboxState:
    """Everything the emulated tenant holds."""

    identity: Identity
    mailboxes: dict[str, Mailbox] = field(default_factory=dict)
    traffic: Traffic = field(default_factory=Traffic)
    delta: DeltaTokens = field(default_factory=DeltaTokens)
    allowed_mailboxes: set[str] | None = None
    cae_challenge: bool = True
    #: The tenant's "now" minus the wall clock: scenarios set it so booking windows count from their own day.
    clock_offset: timedelta = timedelta()
    calendars: Calendars = field(init=False)
    notifications: Notifications = field(init=False)

    def __post_init__(self) -> None:
        self.calendars = Calendars(self.mailboxes, lambda: datetime.now(UTC) + self.clock_offset)
        self.notifications = Notifications(self)

    def add_room(
        self,
        address: str,
        name: str | None = None,
        processing: Mapping[str, Any] | None = None,
        capacity: int | None = None,
        time_zone: str = "",
    ) -> Mailbox:
        key = address.strip().casefold()
        box = Mailbox(
            address=key,
            name=name or key.split("@")[0],
            kind="room",
            capacity=capacity,
            processing=Processing.from_json(dict(processing or {})),
            time_zone=time_zone,
        )
        self.mailboxes[key] = box
        return box


class GraphSandbox:
    """An emulated Exchange Online tenant (Graph + Entra token endpoint + admin API) on one HTTPS port."""

    def __init__(
        self,
        rooms: Iterable[str | Mapping[str, Any]] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tenant_id: str = DEFAULT_TENANT,
        client_id: str = DEFAULT_CLIENT,
        client_secret: str = DEFAULT_SECRET,
        concurrency_limit: int = 4,
        latency: float = 0.0,
        now: datetime | None = None,
        notification_ca: str | None = None,
    ) -> None:
        """``now``: the tenant's date (room booking windows count from it), for tests set in another year;
        ``notification_ca``: a CA the notification deliveries trust besides the system store (a test's)."""
        self.host, self.port = host, port
        self.tenant_id, self.client_id, self.client_secret = tenant_id, client_id, client_secret
        self.state = SandboxState(identity=Identity(tenant_id))
        self.state.identity.register(client_id, secret=client_secret)
        self.state.traffic.concurrency_limit = concurrency_limit
        self.state.traffic.latency = latency
        if now is not None:
            self.state.clock_offset = now - datetime.now(UTC)
        for room in rooms:
            if isinstance(room, str):
                self.state.add_room(room)
            else:
                self.state.add_room(
                    room["address"],
                    room.get("name"),
                    room.get("processing"),
                    room.get("capacity"),
                    room.get("timeZone", ""),
                )
        if notification_ca:
            self.state.notifications.trust(notification_ca)
        self.certificate = tls.generate()
        self._runner: web.AppRunner | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.admin: Any = None

    # -- lifecycle -----------------------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        notifications = self.state.notifications
        app = web.Application(client_max_size=4 * 1024 * 1024, middlewares=[notifications.middleware])
        app.add_routes(AdminApi(self.state).routes())
        admin.INDEX.install(app)
        app.add_routes(notifications.admin_routes())
        app.add_routes(GraphApi(self.state).routes())
        return app

    async def start(self) -> None:
        from roomsync.sandbox.graph.client import SandboxAdmin

        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.certificate.server_context())
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._tmp = tempfile.TemporaryDirectory(prefix="roomsync-graph-sandbox-")
        Path(self._tmp.name, "ca.pem").write_text(self.certificate.ca_pem)  # noqa: ASYNC240 - a tiny local file
        self.admin = SandboxAdmin(self.origin, self.ca_pem)

    async def stop(self) -> None:
        await self.state.notifications.aclose()
        if self.admin is not None:
            await self.admin.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> GraphSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- what clients need ---------------------------------------------------------------------------------------
    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1.0"

    @property
    def authority_host(self) -> str:
        return self.origin

    @property
    def ca_pem(self) -> str:
        return self.certificate.ca_pem

    @property
    def ca_file(self) -> str:
        """A file holding the CA, for ``SSL_CERT_FILE`` in another process."""
        assert self._tmp is not None, "start the sandbox first"
        return str(Path(self._tmp.name, "ca.pem"))

    def connection_spec(self, secret_name: str = "graph-sandbox") -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
        """The ``spec.graph`` of a Connection pointing here, and the secret values it refers to."""
        spec = {
            "tenantId": self.tenant_id,
            "clientId": self.client_id,
            "auth": {"clientSecret": {"secretRef": {"name": secret_name, "key": "clientSecret"}}},
            "baseUrl": self.base_url,
            "authorityHost": self.authority_host,
            "caBundle": self.ca_pem,
        }
        return spec, {(secret_name, "clientSecret"): self.client_secret}
