"""What a Planon customer builds so that Planon tells RoomSync about reservation changes (planon.md 1.12).

Planon has no stock webhook. Its Event Connector is "NOT an out-of-the-box product": a business rule linked to the
reservation's save event creates an outbound message, and an app (Tailor Made Software built with the Planon IDE)
sends it. This module plays such an app, configured the way docs/planon.md tells a Planon administrator to build it:

- ``PUT /_admin/event-connector {"url": ..., "token": ..., "ca": ...}`` turns it on (``DELETE`` turns it off);
- every reservation that was inserted, changed (any field, its state included) or deleted by a request - the REST
  API's writes and every touchpoint alike - makes one message: ``POST {url}`` with ``Authorization: Bearer
  {token}`` and ``{"reservationUnit": <unit code>, "reservation": <syscode>, "event": "ReservationChanged"}``;
- 2xx acknowledges, 5xx and unreachable are retried with back-off, anything else is given up (the emulator's choice;
  how a real app retries is up to whoever builds it);
- faults as :mod:`roomsync.sandbox.outbound` describes (``POST /_admin/event-connector/faults``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from aiohttp import web

from roomsync.sandbox.outbound import Delivery, Fault, Outbound
from roomsync.sandbox.planon.state import SandboxState


class EventConnector:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.url: str | None = None
        self.token = ""
        self.outbound = Outbound(acknowledged=lambda s: 200 <= s < 300, retried=lambda s: s >= 500)
        self._seen: dict[int, tuple[datetime, str, int]] = {}

    def _snapshot(self) -> dict[int, tuple[datetime, str, int]]:
        return {r.syscode: (r.changed, r.state, r.unit_ref) for r in self.state.reservations.values()}

    def configure(self, url: str | None, token: str = "", ca: str | None = None) -> None:
        if url is not None and not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("url must be https (plain http only to this machine)")
        self.url, self.token = url, token
        if ca:
            self.outbound.trust(ca)
        self._seen = self._snapshot()

    def changed(self) -> None:
        """After a request: one message per reservation it inserted, changed or deleted."""
        if self.url is None:
            return
        now = self._snapshot()
        units = {code: unit.code for code, unit in self.state.units.items()}
        touched = [s for s, seen in now.items() if self._seen.get(s) != seen]
        touched += [s for s in self._seen if s not in now]
        for syscode in sorted(touched):
            unit_ref = (now.get(syscode) or self._seen[syscode])[2]
            body = {
                "reservationUnit": units.get(unit_ref, str(unit_ref)),
                "reservation": syscode,
                "event": "ReservationChanged",
            }
            headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
            self.outbound.send(Delivery(self.url, json.dumps(body).encode(), headers, f"reservation {syscode}"))
        self._seen = now

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)  # type: ignore[no-any-return]
        finally:
            if request.method != "GET" and "/read/" not in request.path:
                self.changed()

    async def aclose(self, _: web.Application | None = None) -> None:
        await self.outbound.aclose()


CONNECTOR_KEY: Final = web.AppKey("event_connector", EventConnector)


async def _configure(request: web.Request) -> web.Response:
    """Turn the event connector on (PUT: url, token, ca) or off (DELETE)."""
    connector = request.app[CONNECTOR_KEY]
    if request.method == "DELETE":
        connector.configure(None)
        return web.json_response({"ok": True})
    body = await request.json()
    try:
        connector.configure(str(body["url"]), str(body.get("token") or ""), body.get("ca"))
    except (KeyError, ValueError) as error:
        return web.json_response({"error": str(error)}, status=400)
    return web.json_response({"ok": True})


async def _fault(request: web.Request) -> web.Response:
    """Arm (POST) or clear (DELETE) faults of the event connector's deliveries."""
    connector = request.app[CONNECTOR_KEY]
    if request.method == "DELETE":
        connector.outbound.clear_faults()
        return web.json_response({"ok": True})
    try:
        connector.outbound.add_fault(Fault.from_json(await request.json()))
    except (ValueError, TypeError) as error:
        return web.json_response({"error": str(error)}, status=400)
    return web.json_response({"ok": True})


async def _log(request: web.Request) -> web.Response:
    """The events the connector sent so far and their answers."""
    return web.json_response(request.app[CONNECTOR_KEY].outbound.log)


def install(app: web.Application, state: SandboxState) -> None:
    """Add the Event Connector app to a Planon sandbox application (before it starts)."""
    connector = EventConnector(state)
    app[CONNECTOR_KEY] = connector
    app.middlewares.append(connector.middleware)
    app.on_cleanup.append(connector.aclose)
    app.router.add_route("PUT", "/_admin/event-connector", _configure)
    app.router.add_route("DELETE", "/_admin/event-connector", _configure)
    app.router.add_route("POST", "/_admin/event-connector/faults", _fault)
    app.router.add_route("DELETE", "/_admin/event-connector/faults", _fault)
    app.router.add_route("GET", "/_admin/event-connector/log", _log)
