"""An HTTPS receiver on loopback with a test CA, and the Graph and Google sandboxes trusting it, with real clients."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import kmock
import pytest
import trustme
from aiohttp import web

from roomsync.connectors import google as google_connector
from roomsync.connectors import graph as graph_connector
from roomsync.sandbox.google import GoogleSandbox
from roomsync.sandbox.graph import GraphSandbox
from roomsync.sync.notify.addresses import CONNECTION, Address, ConnectionKey, sign
from roomsync.sync.notify.receiver import Receiver, Wake
from roomsync.sync.notify.settings import ACTIVE, NotifySettings
from tests.k8s_operator.emulator import ApiServer

KEY = b"0123456789abcdef0123456789abcdef"
ROOMSYNC = ("facilities", "hq")
EXCHANGE = ConnectionKey(CONNECTION, "facilities", "exchange")
WORKSPACE = ConnectionKey(CONNECTION, "facilities", "workspace")
PLANON = ConnectionKey(CONNECTION, "facilities", "planon")
PLANON_TOKEN = "event-connector-token"
GRAPH_ROOMS = ["mr-1@contoso.com", "mr-2@contoso.com", "mr-3@contoso.com"]
GOOGLE_ROOMS = ["mr-1@contoso.example", "mr-2@contoso.example"]


@pytest.fixture
async def api() -> AsyncIterator[ApiServer]:
    """The Kubernetes API emulator, for the tests that run the whole operator."""
    async with ApiServer() as server, kmock.Server(server):
        yield server


@dataclass
class Endpoint:
    """The receiver as vendors reach it, and what it did."""

    base: str
    ca_pem: str
    wakes: list[Wake] = field(default_factory=list)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    answer_handshake: bool = True
    #: answer this many deliveries with 503 before accepting again (a vendor must deliver again)
    refuse: int = 0
    #: the bodies (JSON) and headers of every delivery, as the vendor sent them
    bodies: list[Any] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def settings(self, backend: str) -> NotifySettings:
        key = PLANON_TOKEN.encode() if backend == "planon" else KEY
        return NotifySettings(True, ACTIVE, "", self.base, key, timedelta(minutes=15))

    async def deliver(self, wake: Wake) -> int:
        self.wakes.append(wake)
        self.arrived.set()
        return 1

    async def wait(self, count: int) -> list[Wake]:
        async with asyncio.timeout(10):
            while len(self.wakes) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.wakes

    def address(self, backend: str, room: str) -> tuple[str, str]:
        connection = EXCHANGE if backend == "graph" else WORKSPACE
        address = Address.of_room(backend, connection, ROOMSYNC, room)
        return address.url(self.base), sign(KEY, address)


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    endpoint = Endpoint("", ca.cert_pem.bytes().decode())

    async def settings(connection: ConnectionKey, backend: str) -> NotifySettings | None:
        if connection not in (EXCHANGE, WORKSPACE, PLANON):
            return None
        return endpoint.settings(backend)

    def count(backend: str, outcome: str, n: int = 1) -> None:
        endpoint.counts[(backend, outcome)] += n

    receiver = Receiver(settings, endpoint, count)

    async def handle(request: web.Request) -> web.StreamResponse:
        if "validationToken" in request.query:
            if not endpoint.answer_handshake:
                return web.Response(status=500)
            return await receiver.handle(request)
        if endpoint.refuse:
            endpoint.refuse -= 1
            return web.Response(status=503)
        body = await request.read()
        endpoint.bodies.append(json.loads(body) if body else None)
        endpoint.headers.append(dict(request.headers))
        return await receiver.handle(request)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    endpoint.base = f"https://127.0.0.1:{runner.addresses[0][1]}/notifications"
    yield endpoint
    await runner.cleanup()


@pytest.fixture
async def graph(endpoint: Endpoint) -> AsyncIterator[tuple[GraphSandbox, Any]]:
    async with GraphSandbox(GRAPH_ROOMS, notification_ca=endpoint.ca_pem) as sandbox:
        spec, secrets = sandbox.connection_spec()
        client = graph_connector.open_client(spec, lambda name, key: secrets[(name, key)])
        try:
            yield sandbox, client
        finally:
            await client.aclose()


@pytest.fixture
async def google(endpoint: Endpoint) -> AsyncIterator[tuple[GoogleSandbox, Any]]:
    rooms = [{"email": room} for room in GOOGLE_ROOMS]
    async with GoogleSandbox(rooms, notification_ca=endpoint.ca_pem) as sandbox:
        spec, secrets = sandbox.connection_spec()
        client = google_connector.open_client(spec, lambda name, key: secrets[(name, key)])
        try:
            yield sandbox, client
        finally:
            await client.aclose()
