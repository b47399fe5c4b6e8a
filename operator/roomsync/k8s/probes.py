"""HTTP endpoints: ``/healthz`` and ``/readyz`` on the health port, ``/metrics`` on the metrics port.

``/healthz`` answers as long as the event loop does (a wedged loop cannot answer, which is what the kubelet's
liveness probe is for). ``/readyz`` answers 200 once kopf has started and a login handler has returned
credentials, 503 before that and after a fatal error. kopf's own ``--liveness`` endpoint serves one path and runs
probe handlers, which we do not need; one small aiohttp app serves both probes. When both ports are equal, one
server serves all paths.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


@dataclass
class Health:
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # kopf's ready flag: started
    logged_in: asyncio.Event = field(default_factory=asyncio.Event)  # a login handler returned credentials
    failed: str | None = None

    @property
    def is_ready(self) -> bool:
        return self.failed is None and self.ready.is_set() and self.logged_in.is_set()


@dataclass
class Servers:
    runners: list[web.AppRunner] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)  # "health"/"metrics" -> bound port (useful with port 0)

    async def aclose(self) -> None:
        for runner in self.runners:
            await runner.cleanup()
        self.runners.clear()


def _health_routes(health: Health) -> list[web.RouteDef]:
    async def healthz(_: web.Request) -> web.Response:
        if health.failed:
            return web.Response(status=503, text=f"failed: {health.failed}\n")
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        if not health.is_ready:
            return web.Response(status=503, text="not ready\n")
        return web.Response(text="ready\n")

    return [web.get("/healthz", healthz), web.get("/readyz", readyz)]


def _metrics_routes(registry: CollectorRegistry) -> list[web.RouteDef]:
    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [web.get("/metrics", metrics)]


async def start_servers(
    host: str, health_port: int | None, metrics_port: int | None, health: Health, registry: CollectorRegistry
) -> Servers:
    """Start the endpoints; a port of ``None`` disables that endpoint, 0 picks a free one."""
    servers = Servers()
    groups: list[tuple[list[str], int, list[web.RouteDef]]] = []
    if health_port is not None and health_port == metrics_port and health_port != 0:
        groups.append((["health", "metrics"], health_port, _health_routes(health) + _metrics_routes(registry)))
    else:
        if health_port is not None:
            groups.append((["health"], health_port, _health_routes(health)))
        if metrics_port is not None:
            groups.append((["metrics"], metrics_port, _metrics_routes(registry)))
    try:
        for names, port, routes in groups:
            await serve(servers, names, host, port, routes)
    except BaseException:
        await servers.aclose()
        raise
    return servers


async def serve(servers: Servers, names: list[str], host: str, port: int, routes: list[web.RouteDef]) -> None:
    """One more HTTP server (the health page uses it too); its bound port is noted under each of ``names``."""
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    servers.runners.append(runner)
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    for name in names:
        servers.ports[name] = bound
