"""Both sandboxes in their own process, and a synced "world" the measurements drive through the operator's code.

The emulators run in a child process so their CPU is not charged to the code under test: on the 2-core benchmark
machine the operator gets one core and "Planon + Exchange" the other, as in production where they are other
machines. The harness talks to them only over HTTP (admin endpoints for set-up, people's edits and request counters;
the connectors for everything the operator does).

Run as ``python -m benchmarks.sandboxes '<json options>'``: prints one JSON line with the addresses and the
connection specs, then serves until its stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.core import proc_cpu_seconds
from roomsync.cli.sync_cmd import open_runners
from roomsync.config.bundle import Bundle, fill
from roomsync.config.manifests import Document
from roomsync.sandbox.ews import ExchangeAdmin, ExchangeSandbox
from roomsync.sandbox.graph import GraphSandbox
from roomsync.sandbox.graph import SandboxAdmin as GraphAdmin
from roomsync.sandbox.planon import PlanonSandbox
from roomsync.sandbox.planon import SandboxAdmin as PlanonAdmin
from roomsync.sandbox.planon.seed import DEMO
from roomsync.sync.cycle import CycleResult
from roomsync.sync.runner import ClientPool, RoomSyncRunner

NAMESPACE = "bench"
EWS_WRITES = frozenset({"CreateItem", "UpdateItem", "DeleteItem"})
ROOT = str(Path(__file__).resolve().parent.parent)
DOMAIN = "bench.example"
PEOPLE = [f"person{i}@{DOMAIN}" for i in range(20)]
PLANON_CHANGE_TIME = {"reservationFields": {"changedAt": "SysChangeDateTime"}}


def room_code(i: int) -> str:
    return f"B-{i:04d}"


def room_mailbox(i: int) -> str:
    return f"b{i:04d}@{DOMAIN}"


def planon_seed(rooms: int) -> dict[str, Any]:
    """The demo credentials plus a property of ``rooms`` always-open reservation units and some people."""
    return {
        "properties": [{"code": "BENCH", "name": "Benchmark tower", "timeZone": "Europe/Amsterdam"}],
        "orderGroups": [{"code": "MEET", "name": "Meeting rooms"}],
        "units": [
            {"code": room_code(i), "property": "BENCH", "capacity": 50, "maxMinutes": 600, "opening": None}
            for i in range(rooms)
        ],
        "persons": [{"email": email, "firstName": f"Person{i}", "lastName": "Bench"} for i, email in enumerate(PEOPLE)],
        "users": DEMO["users"],
        "oidcClients": DEMO["oidcClients"],
    }


# -- the child process --------------------------------------------------------------------------------------------
async def _serve(options: dict[str, Any]) -> None:
    rooms = int(options["rooms"])
    processing = {
        "AutomateProcessing": options.get("processing", "AutoUpdate"),
        "AddOrganizerToSubject": False,
        "DeleteSubject": False,
        "DeleteComments": False,
        "RemovePrivateProperty": False,
    }
    latency = float(options.get("latency", 0.0))
    ews = options.get("calendar") == "ews"  # the same Exchange, reached through its EWS face
    async with (
        PlanonSandbox(seed=planon_seed(rooms), latency=latency) as planon,
        (ExchangeSandbox if ews else GraphSandbox)(
            [{"address": room_mailbox(i), "processing": processing} for i in range(rooms)],
            latency=latency,
            concurrency_limit=int(options.get("concurrency", 4)),
        ) as graph,
    ):
        graph_spec, graph_secrets = graph.connection_spec()
        info: dict[str, Any] = {
            # with the change timestamp docs/planon.md asks for: incremental reads and write preconditions
            "planon": {"root": planon.root_url, "spec": {**planon.connection_spec(), **PLANON_CHANGE_TIME}},
            "graph": {"origin": graph.origin, "ca": graph.ca_pem, "spec": graph_spec},
        }
        if isinstance(graph, ExchangeSandbox):
            graph.ews.traffic.latency = latency
            ews_spec, ews_secrets = graph.ews_connection_spec(auth="ntlm")
            info["ews"] = {"spec": ews_spec}
            graph_secrets = {**graph_secrets, **ews_secrets}
        info["secrets"] = [
            [name, key, value] for (name, key), value in {**planon.demo_secrets(), **graph_secrets}.items()
        ]
        print(json.dumps(info), flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # the parent closes stdin (or dies): stop


# -- the parent side -----------------------------------------------------------------------------------------------
@dataclass
class Traffic:
    """Requests the sandboxes counted since the last reset.

    Graph figures count what the mailboxes served: every request sent alone and every request inside a ``$batch``
    (each counts against its mailbox's limits as if sent alone); the ``$batch`` envelopes are counted apart, as
    HTTP requests (``graph_http``).
    """

    graph: list[dict[str, Any]] = field(default_factory=list)
    planon: dict[str, int] = field(default_factory=dict)
    ews: list[dict[str, Any]] = field(default_factory=list)  # {mailbox, operation, status, count}, EWS worlds only
    graph_max_in_flight: dict[str, int] = field(default_factory=dict)  # per mailbox
    graph_max_http_in_flight: int = 0

    @property
    def ews_total(self) -> int:
        return sum(r["count"] for r in self.ews)

    @property
    def ews_writes(self) -> int:
        """CreateItem (meetings and answers to requests), UpdateItem, DeleteItem that the server carried out."""
        return sum(r["count"] for r in self.ews if r["operation"] in EWS_WRITES and r["status"] == 200)

    def ews_operations(self) -> dict[str, int]:
        ops: Counter[str] = Counter()
        for r in self.ews:
            ops[r["operation"] if r["status"] == 200 else f"{r['operation']} ({r['status']})"] += r["count"]
        return dict(ops)

    def _served(self) -> list[dict[str, Any]]:
        return [r for r in self.graph if r["operation"] != "$batch"]

    @property
    def graph_total(self) -> int:
        return sum(r["count"] for r in self._served())

    @property
    def graph_http(self) -> int:
        """HTTP requests that reached the tenant: a ``$batch`` once, the requests inside it not at all."""
        return sum(r["count"] for r in self.graph if not r.get("batched"))

    @property
    def graph_batches(self) -> int:
        return sum(r["count"] for r in self.graph if r["operation"] == "$batch")

    @property
    def graph_writes(self) -> int:
        return sum(r["count"] for r in self._served() if r["method"] != "GET")

    @property
    def graph_throttled(self) -> int:
        return sum(r["count"] for r in self.graph if r["status"] == 429)

    def graph_by(self, *, method: str | None = None, operation: str | None = None) -> int:
        return sum(
            r["count"]
            for r in self._served()
            if (method is None or r["method"] == method) and (operation is None or r["operation"] == operation)
        )

    def graph_operations(self) -> dict[str, int]:
        ops: Counter[str] = Counter()
        for r in self.graph:
            ops[f"{r['method']} {r['operation']}"] += r["count"]
        return dict(ops)

    @property
    def planon_total(self) -> int:
        return sum(n for key, n in self.planon.items() if key != "token")

    @property
    def planon_writes(self) -> int:
        return sum(n for key, n in self.planon.items() if key != "token" and not key.startswith("read/"))


@dataclass
class Cycle:
    result: CycleResult
    traffic: Traffic
    wall: float
    cpu: float
    sandbox_cpu: float = 0.0  # CPU the emulators spent answering (their own process)

    @property
    def actions(self) -> int:
        return len(self.result.plan.actions) if self.result.plan else 0


def manifests(info: dict[str, Any], rooms: int, *, leader: str, interval: str) -> list[dict[str, Any]]:
    secrets: dict[str, dict[str, str]] = {}
    for name, key, value in info["secrets"]:
        secrets.setdefault(name, {})[key] = value
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": n, "namespace": NAMESPACE}, "stringData": d}
        for n, d in sorted(secrets.items())
    ]
    calendar = {"ews": info["ews"]["spec"]} if "ews" in info else {"graph": info["graph"]["spec"]}
    for name, spec in (("planon", {"planon": info["planon"]["spec"]}), ("exchange", calendar)):
        docs.append(
            {
                "apiVersion": "roomsync.io/v1alpha1",
                "kind": "Connection",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": spec,
            }
        )
    docs.append(
        {
            "apiVersion": "roomsync.io/v1alpha1",
            "kind": "RoomSync",
            "metadata": {"name": "tower", "namespace": NAMESPACE, "generation": 1},
            "spec": {
                "planon": {"connectionRef": "planon"},
                "calendar": {"connectionRef": "exchange"},
                "leader": leader,
                "rooms": [{"planon": room_code(i), "calendar": room_mailbox(i)} for i in range(rooms)],
                "interval": interval,
                "window": {"past": "1d", "future": "90d"},
            },
        }
    )
    return docs


def slot(index: int, day0: datetime) -> tuple[datetime, datetime]:
    """The ``index``-th booking of a room: five a day, 08:00-17:00 Amsterdam, on consecutive days."""
    day = day0 + timedelta(days=1 + index // 5)
    start = day.replace(hour=7 + 2 * (index % 5), minute=0, second=0, microsecond=0)
    return start, start + timedelta(minutes=60)


class World:
    """``rooms`` rooms in both sandboxes and one RoomSync over them, opened the way ``roomsync sync`` opens it."""

    def __init__(
        self,
        rooms: int,
        *,
        latency: float = 0.0,
        leader: str = "Planon",
        processing: str = "AutoUpdate",
        interval: str = "60s",
        open_runner: bool = True,
        calendar: str = "graph",
    ) -> None:
        self.rooms, self.latency, self.leader, self.interval = rooms, latency, leader, interval
        self.open_runner = open_runner
        self.calendar = calendar
        self.options = {"rooms": rooms, "latency": latency, "processing": processing, "calendar": calendar}
        self.process: asyncio.subprocess.Process | None = None
        self.info: dict[str, Any] = {}
        self.pool = ClientPool()
        self.pools: list[ClientPool] = []  # of runners opened with other Connection settings
        self.runner: RoomSyncRunner | None = None
        self.planon: PlanonAdmin | None = None
        self.graph: GraphAdmin | None = None
        self.day0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    async def __aenter__(self) -> World:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.sandboxes",
            json.dumps(self.options),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
            limit=16 * 1024 * 1024,
        )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout=60)
        if not line:
            raise RuntimeError("the sandbox process exited before it was ready")
        self.info = json.loads(line)
        self.planon = PlanonAdmin(self.info["planon"]["root"])
        admin = ExchangeAdmin if self.calendar == "ews" else GraphAdmin
        self.graph = admin(self.info["graph"]["origin"], self.info["graph"]["ca"])
        if self.open_runner:
            self.runner = await self._open(self.pool, self.manifests())
        return self

    @staticmethod
    async def _open(pool: ClientPool, docs: list[dict[str, Any]]) -> RoomSyncRunner:
        bundle = fill(Bundle(environ={}), [Document("benchmark", i, d) for i, d in enumerate(docs)])
        if not bundle.ok:
            raise RuntimeError("; ".join(str(p) for p in bundle.problems))
        runners, problems = await open_runners(bundle, pool, allow_mass_delete=False)
        if problems:
            raise RuntimeError("; ".join(problems))
        return runners[0]

    async def other_runner(self, **graph: Any) -> RoomSyncRunner:
        """A second runner over the same world whose Graph Connection has these settings (e.g. ``batchSize=1``);
        its own clients, so its requests and memory are its own."""
        docs = self.manifests()
        for doc in docs:
            if doc["kind"] == "Connection" and "graph" in doc["spec"]:
                doc["spec"] = {"graph": {**doc["spec"]["graph"], **graph}}
        self.pools.append(ClientPool())
        return await self._open(self.pools[-1], docs)

    async def __aexit__(self, *exc: object) -> None:
        for pool in (self.pool, *self.pools):
            await pool.aclose()
        for admin in (self.planon, self.graph):
            if admin is not None:
                await admin.aclose()
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), timeout=10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    def manifests(self, interval: str | None = None) -> list[dict[str, Any]]:
        return manifests(self.info, self.rooms, leader=self.leader, interval=interval or self.interval)

    # -- people -----------------------------------------------------------------------------------------------------
    async def seed_planon(self, per_room: int) -> None:
        """``per_room`` reservations per room made in Planon before RoomSync ever ran (one bulk admin call)."""
        assert self.planon is not None
        reservations = []
        for room in range(self.rooms):
            for index in range(per_room):
                start, end = slot(index, self.day0)
                reservations.append(
                    {
                        "unit": room_code(room),
                        "start": start.isoformat(),
                        "end": end.isoformat(),
                        "description": f"Meeting {room}-{index}",
                        "requestor": PEOPLE[(room + index) % len(PEOPLE)],
                    }
                )
        await self.planon.seed({"reservations": reservations})

    # -- the operator's cycle -----------------------------------------------------------------------------------
    async def reset_counters(self) -> None:
        assert self.planon is not None and self.graph is not None
        await asyncio.gather(self.planon.reset_requests(), self.graph.reset_requests())
        if isinstance(self.graph, ExchangeAdmin):
            await self.graph.reset_ews_requests()

    async def traffic(self) -> Traffic:
        assert self.planon is not None and self.graph is not None
        planon, graph = await asyncio.gather(self.planon.requests(), self.graph.requests())
        ews = (await self.graph.ews_requests())["requests"] if isinstance(self.graph, ExchangeAdmin) else []
        return Traffic(
            graph=list(graph["requests"]),
            planon=dict(planon),
            ews=list(ews),
            graph_max_in_flight=dict(graph.get("maxInFlight", {})),
            graph_max_http_in_flight=int(graph.get("maxHttpInFlight", 0)),
        )

    async def cycle(self, *, full: bool = False, runner: RoomSyncRunner | None = None) -> Cycle:
        """One cycle exactly as the operator runs it, with the requests it caused and its wall and CPU time."""
        runner = runner or self.runner
        assert runner is not None
        await self.reset_counters()
        sandbox = self.sandbox_cpu()
        wall, cpu = time.perf_counter(), time.process_time()
        result = await runner.cycle(datetime.now(UTC), force_full=full)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return Cycle(result, await self.traffic(), wall, cpu, self.sandbox_cpu() - sandbox)

    def sandbox_cpu(self) -> float:
        assert self.process is not None
        return proc_cpu_seconds(self.process.pid)

    async def sync_until_agreed(self, limit: int = 5) -> list[Cycle]:
        cycles = []
        for _ in range(limit):
            cycles.append(await self.cycle())
            if not cycles[-1].actions:
                break
        return cycles


if __name__ == "__main__":
    asyncio.run(_serve(json.loads(sys.argv[1])))
