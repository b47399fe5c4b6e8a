"""The reliability rig: both sandboxes, the manifests that point at them, and ways to look at what they hold.

Everything here serves the crash, fault, secret and soak suites:

* :class:`Rig` runs the Planon and Graph emulators in-process (``async with Rig.started() as rig``) with credentials
  that are unique per rig, so a secret scan can look for exactly these values;
* :class:`WriteGate` is an aiohttp middleware on both emulators that counts *writes* (Planon ``execute``/``update``/
  ``changeState``/``delete``, Graph ``POST``/``PATCH``/``DELETE`` under ``/v1.0``, also inside a ``$batch``) in one
  sequence across both backends. Armed with ``N``, it lets the HTTP request holding the N-th write be committed and
  then holds its answer, and holds every later request with a write (any ``$batch``) *before* it executes: the
  harness SIGKILLs the syncing process while it waits for that answer - the worst moment, writes done that the
  writer never learnt about (a ``$batch`` is done as a whole, so its writes share one kill point);
* :meth:`Rig.snapshot` / :meth:`Rig.restore` deep-copy the emulators' whole state, so every kill point starts from
  exactly the same situation without re-seeding;
* :func:`canonical` describes what people see (live reservations and room-calendar items, without ids), so runs can
  be compared for lost and duplicated bookings.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import secrets
import ssl
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import yaml
from aiohttp import web

from roomsync.sandbox import building
from roomsync.sandbox.graph import GraphSandbox
from roomsync.sandbox.planon import PlanonSandbox
from roomsync.sandbox.planon import server as planon_server

T = TypeVar("T")
NAMESPACE = "facilities"
LEAD = building.ROOMS[3]  # AMS-2.01, the boardroom: its mailbox leaves requests to RoomSync (Planon decides)
FOLLOW = (building.ROOMS[0], building.ROOMS[1])  # AMS-1.01, AMS-1.02: Exchange accepts, Planon registers
ANSWERS = ("events.accept", "events.decline", "events.tentativelyAccept")
PLANON_WRITES = ("/execute/", "/update/", "/changeState/", "/delete/")


# -- the write gate ------------------------------------------------------------------------------------------------
@dataclass
class WriteGate:
    """Counts writes on both emulators (one sequence) and, when armed, holds everything from the N-th on."""

    kill_at: int | None = None
    count: int = 0
    writes: list[tuple[str, str, str, int]] = field(default_factory=list)  # (backend, method, path, status)
    tripped: threading.Event = field(default_factory=threading.Event)
    #: called before every request reaches an emulator (e.g. to expire tokens in the middle of a cycle)
    before: Callable[[str, web.Request], None] | None = None
    _released: asyncio.Event | None = None

    def arm(self, n: int | None) -> None:
        self.kill_at, self.count = n, 0
        self.writes.clear()
        self.tripped.clear()
        self._released = None

    def release(self, loop: asyncio.AbstractEventLoop) -> None:
        """Let held requests go (answering 503 without executing the ones that had not run yet)."""
        self.kill_at = None
        if self._released is not None:
            loop.call_soon_threadsafe(self._released.set)

    def middleware(self, backend: str, writes_of: Callable[[web.Request], Awaitable[list[Write]]]) -> Any:
        @web.middleware
        async def gate(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
            if self.before is not None:
                self.before(backend, request)
            batch = request.path == BATCH and request.method == "POST"
            if not batch and not await writes_of(request):
                return await handler(request)
            if self.tripped.is_set():  # a $batch is held without reading it: the emulator reads it (and only once)
                await self._wait()
                return web.Response(status=503, text="held by the write gate; not executed")
            response = await handler(request)
            writes = await writes_of(request)  # a $batch's body, as the emulator read it
            if not writes:
                return response
            statuses = _inner_statuses(response) if batch else {}
            for method, path, inner_id in writes:
                self.count += 1
                self.writes.append((backend, method, path, statuses.get(inner_id, response.status)))
            if self.kill_at is not None and self.count >= self.kill_at:
                self.tripped.set()
                await self._wait()
            return response

        return gate

    async def _wait(self) -> None:
        if self._released is None:
            self._released = asyncio.Event()
        await self._released.wait()


#: (method, path, the id of the request inside a ``$batch`` or "")
Write = tuple[str, str, str]


async def _planon_writes(request: web.Request) -> list[Write]:
    write = request.path.startswith("/sdk/") and any(op in request.path for op in PLANON_WRITES)
    return [(request.method, request.path, "")] if write else []


GRAPH_WRITES = ("POST", "PATCH", "DELETE", "PUT")
BATCH = "/v1.0/$batch"


async def _graph_writes(request: web.Request) -> list[Write]:
    """The writes a Graph request makes: itself, or the writes inside a ``$batch`` (in the batch's order)."""
    if request.path == BATCH and request.method == "POST":
        body = await request.json()
        inner = body.get("requests", []) if isinstance(body, dict) else []
        return [
            (str(r["method"]).upper(), "/v1.0" + unquote(str(r.get("url", "")).split("?")[0]), str(r.get("id")))
            for r in inner
            if isinstance(r, dict) and str(r.get("method", "")).upper() in GRAPH_WRITES
        ]
    write = request.path.startswith("/v1.0/") and request.method in GRAPH_WRITES
    return [(request.method, request.path, "")] if write else []


def _inner_statuses(response: web.StreamResponse) -> dict[str, int]:
    """The status of each request inside a ``$batch`` answer, by its id."""
    body = response.body if isinstance(response, web.Response) else None
    if not isinstance(body, bytes):
        return {}
    return {str(a.get("id")): int(a["status"]) for a in json.loads(body).get("responses", [])}


class GatedPlanon(PlanonSandbox):
    """The Planon emulator with the write gate in front of it (and optionally TLS)."""

    def __init__(self, gate: WriteGate, *, ssl_context: ssl.SSLContext | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate
        self.ssl_context = ssl_context

    @property
    def root_url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://{self.host}:{self.port}"

    async def start(self) -> GatedPlanon:
        app = planon_server.make_app(self.state, self.faults)
        app.middlewares.append(self.gate.middleware("planon", _planon_writes))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.ssl_context)
        await site.start()
        server = site._server
        if self.port == 0 and server is not None:
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self


class GatedGraph(GraphSandbox):
    def __init__(self, gate: WriteGate, rooms: Sequence[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(rooms, **kwargs)
        self.gate = gate

    def app(self) -> web.Application:
        app = super().app()
        app.middlewares.append(self.gate.middleware("graph", _graph_writes))
        return app


# -- the rig ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Credentials:
    """Unique secret values for one rig (what the secret scan looks for)."""

    planon_access_key: str = field(default_factory=lambda: "pk-" + secrets.token_hex(12))
    planon_client_secret: str = field(default_factory=lambda: "pc-" + secrets.token_hex(12))
    graph_client_secret: str = field(default_factory=lambda: "gs-" + secrets.token_hex(12))

    def values(self) -> list[str]:
        return [self.planon_access_key, self.planon_client_secret, self.graph_client_secret]


@dataclass
class Snapshot:
    planon: Any
    graph: Any


class Rig:
    """Both emulators on the running loop, seeded with three rooms of the demo building."""

    def __init__(self, credentials: Credentials | None = None) -> None:
        self.credentials = credentials or Credentials()
        self.gate = WriteGate()
        seed = building.planon_seed()
        seed["users"] = [
            {"account": "roomsync-api", "timeZone": "Europe/London", "accessKeys": [{"key": self.planon_key}]},
            {"account": "service-account-roomsync", "timeZone": "UTC"},
            {"account": "kiosk", "timeZone": "Europe/Amsterdam"},
        ]
        seed["oidcClients"] = [{"clientId": "roomsync", "secret": self.credentials.planon_client_secret}]
        rooms = [r for r in building.graph_rooms() if r["address"] in {x.mailbox for x in (LEAD, *FOLLOW)}]
        self.planon = GatedPlanon(self.gate, seed=seed)
        self.graph = GatedGraph(self.gate, rooms, client_secret=self.credentials.graph_client_secret)

    @property
    def planon_key(self) -> str:
        return self.credentials.planon_access_key

    @classmethod
    @contextlib.asynccontextmanager
    async def started(cls, credentials: Credentials | None = None) -> AsyncIterator[Rig]:
        rig = cls(credentials)
        await rig.planon.start()
        await rig.graph.start()
        try:
            yield rig
        finally:
            await rig.graph.stop()
            await rig.planon.stop()

    # -- manifests -------------------------------------------------------------------------------------------------
    def manifests(
        self,
        *,
        planon_auth: str = "accessKey",
        planon_extra: dict[str, Any] | None = None,
        graph_extra: dict[str, Any] | None = None,
        roomsync_extra: dict[str, Any] | None = None,
        secrets_inline: bool = True,
        credentials: Credentials | None = None,
    ) -> list[dict[str, Any]]:
        """Secrets, the two Connections and two RoomSyncs: the boardroom in the lead, two rooms following.

        ``*_extra`` are merged into the specs; a ``None`` value removes the key (e.g. ``{"caBundle": None}``).
        """
        planon_spec = _merged(self.planon.connection_spec(planon_auth), planon_extra)
        graph_spec = _merged(self.graph.connection_spec()[0], graph_extra)
        docs = building.manifests(planon_spec, graph_spec, {})
        for doc in docs:
            if doc["kind"] == "RoomSync":
                spec = doc["spec"]
                spec["rooms"] = [r for r in spec["rooms"] if r["planon"] in {x.code for x in (LEAD, *FOLLOW)}]
                spec["window"] = {"past": "1d", "future": "30d"}
                spec.update(copy.deepcopy(roomsync_extra or {}))
        if secrets_inline:
            docs[:0] = [self.secret_manifest(credentials), self.graph_secret_manifest(credentials)]
        return docs

    def secret_manifest(self, credentials: Credentials | None = None) -> dict[str, Any]:
        values = credentials or self.credentials
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "planon-sandbox", "namespace": NAMESPACE},
            "stringData": {
                "accessKey": values.planon_access_key,
                "clientSecret": values.planon_client_secret,
            },
        }

    def graph_secret_manifest(self, credentials: Credentials | None = None) -> dict[str, Any]:
        values = credentials or self.credentials
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "graph-sandbox", "namespace": NAMESPACE},
            "stringData": {"clientSecret": values.graph_client_secret},
        }

    def write_manifests(self, directory: Path, name: str = "roomsync.yaml", **options: Any) -> Path:
        docs = self.manifests(**options)
        path = directory / name
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        return path

    # -- state -----------------------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """A deep copy of both emulators' data (call on the rig's loop, with no request in flight)."""
        return Snapshot(copy.deepcopy(self.planon.state), copy.deepcopy(self.graph.state))

    def restore(self, saved: Snapshot) -> None:
        """Put the saved data back into the live objects the request handlers hold."""
        self.planon.state.__dict__.update(copy.deepcopy(saved.planon).__dict__)
        self.graph.state.__dict__.update(copy.deepcopy(saved.graph).__dict__)
        self.planon.faults.clear()
        self.graph.state.traffic.faults.clear()

    def canonical(self) -> Canonical:
        return canonical(self)

    def answers(self, since: int = 0) -> dict[str, list[str]]:
        """Meeting-request answers RoomSync gave (event id -> actions) in the Graph log from entry ``since``."""
        result: dict[str, list[str]] = {}
        for entry in self.graph.state.traffic.log[since:]:
            op = str(entry.get("operation", ""))
            answered = 200 <= int(entry.get("status") or 0) < 300
            if answered and entry.get("method") == "POST" and op in ANSWERS:
                event_id = str(entry["path"]).split("/events/")[1].split("/")[0]
                result.setdefault(event_id, []).append(op.split(".")[1])
        return result


def _merged(spec: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    merged = {**spec, **(extra or {})}
    return {k: v for k, v in merged.items() if v is not None}


@dataclass(frozen=True)
class Canonical:
    """What people see on both sides, without ids: multisets of live items, the subject last.

    Planon: (unit, start, end, subject) per reservation. Calendar: (mailbox, start, end, the original starts of the
    occurrences a series no longer holds, subject) per item."""

    planon: Counter[tuple[str, ...]]
    calendar: Counter[tuple[str, ...]]

    def duplicates(self) -> list[tuple[str, ...]]:
        return [k for k, n in (self.planon + self.calendar).items() if n > 1]


def canonical(rig: Rig) -> Canonical:
    state = rig.planon.state
    planon: Counter[tuple[str, ...]] = Counter()
    for r in state.reservations.values():
        if r.state in ("UsrReservationCancelled", "UsrReservationNoShow"):
            continue
        unit = state.units[r.unit_ref].code
        planon[(unit, r.begin.astimezone(UTC).isoformat(), r.end.astimezone(UTC).isoformat(), r.description)] += 1
    calendar: Counter[tuple[str, ...]] = Counter()
    for box in rig.graph.state.mailboxes.values():
        if box.kind != "room":
            continue
        for event in box.events.values():
            if event.is_cancelled or event.response == "declined":
                continue
            # a series counts with the occurrences it no longer holds: a cancellation lost or done twice shows
            gone = ",".join(sorted(d.isoformat() for d in event.cancelled))
            calendar[(box.address, event.start.isoformat(), event.end.isoformat(), gone, event.subject)] += 1
    return Canonical(planon, calendar)


# -- running the rig from synchronous code --------------------------------------------------------------------------
class ThreadedRig:
    """A :class:`Rig` on its own event loop in a daemon thread, for tests that drive subprocesses."""

    def __init__(self, credentials: Credentials | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="reliability-rig", daemon=True)
        self._context: contextlib.AbstractAsyncContextManager[Rig] | None = None
        self.credentials = credentials
        self.rig: Rig

    def call(self, awaitable: Awaitable[T], timeout: float = 60) -> T:
        async def wrap() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(timeout)

    def run(self, function: Callable[[], T]) -> T:
        """Run a plain function on the rig's loop (state access without racing the handlers)."""

        async def wrap() -> T:
            return function()

        return self.call(wrap())

    def __enter__(self) -> ThreadedRig:
        self._thread.start()
        self._context = Rig.started(self.credentials)
        self.rig = self.call(self._context.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._context is not None
        self.rig.gate.release(self.loop)
        self.call(self._context.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@contextlib.contextmanager
def threaded_rig(credentials: Credentials | None = None) -> Iterator[ThreadedRig]:
    with ThreadedRig(credentials) as threaded:
        yield threaded
