"""One Exchange, two faces: the Graph sandbox's mailbox store, with an EWS SOAP endpoint beside the Graph one.

async with ExchangeSandbox(rooms=["mr-1@contoso.com"]) as sb:
    spec, secrets = sb.ews_connection_spec(auth="ntlm")   # a Connection ``spec.ews`` and its secret values
    spec, secrets = sb.connection_spec()                   # the Graph face, same rooms, same items

Both faces read and write the same items, so a room can be seen through Graph and through EWS (a hybrid estate), and
a mailbox "moved" from on-premise to Exchange Online (:meth:`ExchangeAdmin.move_mailbox`) keeps its meetings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from roomsync.sandbox.ews.accounts import ServiceAccount
from roomsync.sandbox.ews.admin import EwsAdminApi
from roomsync.sandbox.ews.client import ExchangeAdmin
from roomsync.sandbox.ews.endpoint import PATH, EwsEndpoint
from roomsync.sandbox.ews.state import EwsState
from roomsync.sandbox.graph.server import GraphSandbox

SERVICE_ACCOUNT = "CORP\\svc-roomsync"
SERVICE_PASSWORD = "sandbox-Passw0rd!"
SERVICE_UPN = "svc-roomsync@corp.example"


class ExchangeSandbox(GraphSandbox):
    """The Graph sandbox plus ``/EWS/Exchange.asmx`` and ``/_admin/ews/``; ``admin`` is an :class:`ExchangeAdmin`."""

    def __init__(
        self,
        rooms: Iterable[str | Mapping[str, Any]] = (),
        *,
        ews_concurrency: int = 27,
        **graph: Any,
    ) -> None:
        super().__init__(rooms, **graph)
        self.ews = EwsState()
        self.ews.traffic.max_concurrency = ews_concurrency
        self.ews.streaming.now = self.state.calendars.now
        self.ews.accounts.add(ServiceAccount(SERVICE_ACCOUNT, SERVICE_PASSWORD, upn=SERVICE_UPN))
        self.ews.accounts.apps[self.client_id] = None  # the tenant's app may impersonate every room

    def app(self) -> web.Application:
        app = super().app()
        endpoint = EwsEndpoint(self.state, self.ews)
        app.middlewares.append(endpoint.middleware)
        app.add_routes(endpoint.routes())
        app.add_routes(EwsAdminApi(self.state, self.ews).routes())
        return app

    async def __aenter__(self) -> ExchangeSandbox:
        await self.start()
        return self

    async def start(self) -> None:
        await super().start()
        await self.admin.aclose()
        self.admin = ExchangeAdmin(self.origin, self.ca_pem)

    async def stop(self) -> None:
        self.ews.streaming.shutdown()  # held streaming connections end (Closed) instead of holding the shutdown
        await super().stop()

    @property
    def ews_url(self) -> str:
        return f"{self.origin}{PATH}"

    def ews_connection_spec(
        self,
        *,
        auth: str = "ntlm",
        access_type: str = "Impersonation",
        secret_name: str = "ews-sandbox",
        username: str = SERVICE_ACCOUNT,
        password: str = SERVICE_PASSWORD,
    ) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
        """The ``spec.ews`` of a Connection pointing here (``auth``: ntlm, basic or oauth2) and its secret values."""
        spec: dict[str, Any] = {
            "url": self.ews_url,
            "accessType": access_type,
            "version": "Exchange2016",
            "caBundle": self.ca_pem,
        }
        if auth == "oauth2":
            spec["auth"] = {
                "oauth2": {
                    "tenantId": self.tenant_id,
                    "clientId": self.client_id,
                    "authorityHost": self.authority_host,
                    "clientSecret": {"secretRef": {"name": secret_name, "key": "clientSecret"}},
                }
            }
            return spec, {(secret_name, "clientSecret"): self.client_secret}
        spec["auth"] = {auth: {"username": username, "secretRef": {"name": secret_name, "key": "password"}}}
        return spec, {(secret_name, "password"): password}
