"""Running the emulator: in-process on an event loop, in a background thread, or in the foreground for the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
from collections.abc import Awaitable, Iterator, Mapping
from types import TracebackType
from typing import Any, Final, TypeVar

from aiohttp import web

from roomsync.sandbox.planon import admin, api, event_connector
from roomsync.sandbox.planon.client import SandboxAdmin
from roomsync.sandbox.planon.faults import Faults
from roomsync.sandbox.planon.seed import DEMO, DEMO_ACCESS_KEY, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, apply_seed
from roomsync.sandbox.planon.state import SandboxState

T = TypeVar("T")
API_PATH: Final = "/sdk/system/rest/v1"
TOKEN_PATH: Final = "/auth/realms/planon/protocol/openid-connect/token"


def make_app(state: SandboxState, faults: Faults) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[api.STATE_KEY] = state
    app[api.FAULTS_KEY] = faults
    api.add_routes(app)
    admin.add_routes(app)
    event_connector.install(app, state)
    return app


class PlanonSandbox:
    """The emulator on ``host:port`` (port 0 = ephemeral) for the lifetime of an ``async with`` block.

    ``seed`` is the seed document (:mod:`roomsync.sandbox.planon.seed`), ``"demo"`` for the demo environment or
    ``None`` for an empty Planon. ``state`` is the live data for in-process assertions; ``admin`` talks to the admin
    endpoints over HTTP.
    """

    def __init__(
        self,
        *,
        seed: Mapping[str, Any] | str | None = "demo",
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        token_lifetime_seconds: float | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.state = SandboxState()
        self.faults = Faults()
        self.faults.latency = latency
        if token_lifetime_seconds is not None:
            from datetime import timedelta

            self.state.token_lifetime = timedelta(seconds=token_lifetime_seconds)
        if seed is not None:
            apply_seed(self.state, copy.deepcopy(DEMO) if seed == "demo" else seed)  # type: ignore[arg-type]
        self._runner: web.AppRunner | None = None
        self._admin: SandboxAdmin | None = None

    # -- addresses -------------------------------------------------------------------------------------------------
    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The API base URL a Connection's ``spec.planon.url`` points at."""
        return self.root_url + API_PATH

    @property
    def token_url(self) -> str:
        return self.root_url + TOKEN_PATH

    @property
    def admin(self) -> SandboxAdmin:
        if self._admin is None:
            self._admin = SandboxAdmin(self.root_url)
        return self._admin

    def connection_spec(self, auth: str = "accessKey", *, time_zone: str = "Europe/London") -> dict[str, Any]:
        """A ``spec.planon`` for the demo credentials (Secret ``planon-sandbox``: ``accessKey``, ``clientSecret``)."""
        if auth == "accessKey":
            auth_spec: dict[str, Any] = {"accessKey": {"secretRef": {"name": "planon-sandbox", "key": "accessKey"}}}
        else:
            auth_spec = {
                "oidc": {
                    "tokenUrl": self.token_url,
                    "clientId": DEMO_CLIENT_ID,
                    "clientSecret": {"secretRef": {"name": "planon-sandbox", "key": "clientSecret"}},
                }
            }
            time_zone = "UTC"
        return {"url": self.url, "auth": auth_spec, "timeZone": time_zone}

    @staticmethod
    def demo_secrets() -> dict[tuple[str, str], str]:
        return {
            ("planon-sandbox", "accessKey"): DEMO_ACCESS_KEY,
            ("planon-sandbox", "clientSecret"): DEMO_CLIENT_SECRET,
        }

    # -- lifecycle -------------------------------------------------------------------------------------------------
    async def start(self) -> PlanonSandbox:
        self._runner = web.AppRunner(make_app(self.state, self.faults), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if self.port == 0 and server is not None:
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._admin is not None:
            await self._admin.aclose()
            self._admin = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> PlanonSandbox:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- synchronous use -------------------------------------------------------------------------------------------
    @classmethod
    @contextlib.contextmanager
    def in_thread(cls, **kwargs: Any) -> Iterator[ThreadedSandbox]:
        """``with PlanonSandbox.in_thread() as sb:`` - the emulator on its own loop in a daemon thread."""
        threaded = ThreadedSandbox(cls(**kwargs))
        threaded.start()
        try:
            yield threaded
        finally:
            threaded.stop()


class ThreadedSandbox:
    """A :class:`PlanonSandbox` served from a background thread, for synchronous tests and tools."""

    def __init__(self, sandbox: PlanonSandbox) -> None:
        self.sandbox = sandbox
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="planon-sandbox", daemon=True)

    @property
    def url(self) -> str:
        return self.sandbox.url

    @property
    def root_url(self) -> str:
        return self.sandbox.root_url

    @property
    def token_url(self) -> str:
        return self.sandbox.token_url

    @property
    def state(self) -> SandboxState:
        return self.sandbox.state

    def call(self, awaitable: Awaitable[T]) -> T:
        """Run a coroutine on the sandbox's loop (e.g. ``sb.call(sb.sandbox.admin.book(...))``)."""
        return asyncio.run_coroutine_threadsafe(_wrap(awaitable), self._loop).result()

    def start(self) -> None:
        self._thread.start()
        self.call(self.sandbox.start())

    def stop(self) -> None:
        self.call(self.sandbox.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


async def _wrap(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def serve(
    host: str = "127.0.0.1", port: int = 8642, *, seed: Mapping[str, Any] | str | None = "demo", latency: float = 0.0
) -> None:
    """Serve until cancelled (the ``roomsync sandbox`` command runs this with ``asyncio.run``)."""
    async with PlanonSandbox(seed=seed, host=host, port=port, latency=latency):
        await asyncio.Event().wait()
