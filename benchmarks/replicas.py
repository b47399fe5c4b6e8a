"""Replicas sharing an estate: ``python -m benchmarks.replicas [--rooms N] [--replicas R] [--interval D] [--quick]``.

Not part of ``make bench`` (the full size runs for tens of minutes): it simulates a large estate split across
operator replicas, each a real ``roomsync run --shard-leases`` process, all logged in (through a kubeconfig) to the
Kubernetes emulator of the operator tests, which runs in this process. Planon and Graph are the sandboxes in their
own process, with emulated latency per request (``--latency``). The estate is ``rooms`` rooms in RoomSyncs of
``--rooms-per-roomsync`` rooms, one reservation per room made in Planon before the operators start.

Phases, each measured from /proc of every replica and the sandboxes' request counters:

1. **initial**: the replicas share the shards and sync every RoomSync (until every RoomSync is Synced);
2. **steady**: ``--steady`` intervals with nothing changed: CPU per replica per interval, RSS;
3. **takeover**: a second reservation per room is made in Planon, and the replica holding the most shards is killed
   (SIGKILL: its Leases stay until they expire). Measured: how long until the survivors hold its shards, and until
   every reservation is in the calendar; Graph creates must equal the reservations (nothing duplicated, nothing lost).

The two CPU cores of the benchmark machine are shared by the replicas, the sandboxes and the emulator, so the interval
is long (default 300 s) and the figures per replica are what the sizing in docs/operator.md extrapolates from.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kmock
import yaml
from tests.k8s_operator.emulator import LEASES, ApiServer

from benchmarks.core import proc_cpu_seconds, proc_status_mb
from benchmarks.sandboxes import NAMESPACE, PEOPLE, World, room_code, room_mailbox, slot
from roomsync.k8s.sharding import roomsync_key, shard_of

LEASE_NAMESPACE = "roomsync-system"
LEASE_SET = "bench"
ROOMSYNCS = "roomsync.io/v1alpha1/roomsyncs"
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Replica:
    identity: str
    process: asyncio.subprocess.Process
    log: Path
    marks: list[tuple[str, float, float, float]] = field(default_factory=list)  # (phase, at, cpu s, rss MB)

    def mark(self, phase: str, started: float) -> None:
        if self.process.returncode is None:
            pid = self.process.pid
            self.marks.append(
                (phase, time.perf_counter() - started, proc_cpu_seconds(pid), proc_status_mb(pid, "VmRSS"))
            )

    def cpu(self, phase: str) -> float:
        return next(cpu for name, _, cpu, _ in self.marks if name == phase)

    def peak_rss(self) -> float:
        return proc_status_mb(self.process.pid, "VmHWM")


def roomsync_bodies(world: World, rooms: int, per_roomsync: int, interval: str) -> list[dict[str, Any]]:
    bodies = []
    for first in range(0, rooms, per_roomsync):
        chunk = range(first, min(rooms, first + per_roomsync))
        bodies.append(
            {
                "apiVersion": "roomsync.io/v1alpha1",
                "kind": "RoomSync",
                "metadata": {"name": f"floor-{first // per_roomsync:03d}", "namespace": NAMESPACE},
                "spec": {
                    "planon": {"connectionRef": "planon"},
                    "calendar": {"connectionRef": "exchange"},
                    "leader": world.leader,
                    "rooms": [{"planon": room_code(i), "calendar": room_mailbox(i)} for i in chunk],
                    "interval": interval,
                    "window": {"past": "1d", "future": "90d"},
                },
            }
        )
    return bodies


async def post(api: ApiServer, body: dict[str, Any]) -> None:
    group_version = body["apiVersion"]
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    plural = body["kind"].lower() + "s"
    async with api.post(f"{prefix}/namespaces/{body['metadata']['namespace']}/{plural}", json=body) as response:
        if response.status >= 300:
            raise RuntimeError(f"creating {body['kind']} {body['metadata']['name']}: {await response.text()}")


def synced(api: ApiServer, names: list[str]) -> int:
    """How many of the RoomSyncs are Synced."""
    count = 0
    for name in names:
        status = (api.read(ROOMSYNCS, NAMESPACE, name) or {}).get("status") or {}
        ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
        count += ready.get("reason") == "Synced"
    return count


def holders(api: ApiServer) -> dict[str, str | None]:
    found = {}
    for (resource, namespace, name), obj in api.objects.items():
        if (
            resource == kmock.resource(LEASES)
            and namespace == LEASE_NAMESPACE
            and not obj.deleted
            and "-shard-" in name
        ):
            found[name] = obj.raw["spec"].get("holderIdentity")
    return found


def rooms_per_replica(api: ApiServer, bodies: list[dict[str, Any]], shards: int) -> Counter[str | None]:
    """The rooms of the RoomSyncs each replica runs: those of the shards whose Lease it holds."""
    held = holders(api)
    found: Counter[str | None] = Counter()
    for body in bodies:
        shard = shard_of(roomsync_key(NAMESPACE, body["metadata"]["name"]), shards)
        found[held.get(f"{LEASE_SET}-shard-{shard}")] += len(body["spec"]["rooms"])
    return found


async def wait_for(what: str, check: Any, limit: float, step: float = 1.0) -> float:
    began = time.perf_counter()
    while not check():
        if time.perf_counter() - began > limit:
            raise TimeoutError(f"{what}: not within {limit:.0f} s")
        await asyncio.sleep(step)
    return time.perf_counter() - began


def write_kubeconfig(path: Path, server: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "bench", "cluster": {"server": server}}],
        "users": [{"name": "bench", "user": {"token": "bench"}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
        "current-context": "bench",
    }
    path.write_text(yaml.safe_dump(config))


async def book_second(world: World) -> None:
    assert world.planon is not None
    reservations = []
    for room in range(world.rooms):
        start, end = slot(1, world.day0)
        reservations.append(
            {
                "unit": room_code(room),
                "start": start.isoformat(),
                "end": end.isoformat(),
                "description": f"Later {room}",
                "requestor": PEOPLE[room % len(PEOPLE)],
            }
        )
    await world.planon.seed({"reservations": reservations})


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    interval_s = float(args.interval.rstrip("s"))
    figures: dict[str, Any] = {
        "rooms": args.rooms,
        "replicas": args.replicas,
        "rooms per RoomSync": args.rooms_per_roomsync,
        "shards": args.shards,
        "interval": args.interval,
        "lease timings": f"{args.lease_duration} / {args.renew_deadline} / {args.retry_period}",
        "latency per request (ms)": args.latency * 1000,
        "load average at start": os.getloadavg(),
    }
    say = print
    async with (
        ApiServer() as api,
        kmock.Server(api),
        World(args.rooms, latency=args.latency, open_runner=False) as world,
    ):
        say(f"seeding {args.rooms} rooms x 1 reservation")
        await world.seed_planon(1)
        for doc in world.manifests():
            if doc["kind"] in ("Secret", "Connection"):
                await post(api, doc)
        bodies = roomsync_bodies(world, args.rooms, args.rooms_per_roomsync, args.interval)
        names = [b["metadata"]["name"] for b in bodies]
        with tempfile.TemporaryDirectory(prefix="roomsync-replicas-") as tmp:
            kubeconfig = Path(tmp, "kubeconfig")
            await asyncio.to_thread(write_kubeconfig, kubeconfig, str(api.url).rstrip("/"))
            env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
            env.pop("KUBERNETES_SERVICE_HOST", None)
            roomsync = Path(sys.executable).parent / "roomsync"
            replicas: list[Replica] = []
            for n in range(args.replicas):
                identity = f"r{n + 1}"
                log = Path(tmp, f"{identity}.log")
                process = await asyncio.create_subprocess_exec(
                    str(roomsync), "run", "--namespace", NAMESPACE, "--shard-leases", LEASE_SET,
                    "--lease-namespace", LEASE_NAMESPACE, "--identity", identity, "--shards", str(args.shards),
                    "--health-port", "0", "--metrics-port", "0", "--cluster-resource-namespace", LEASE_NAMESPACE,
                    "--lease-duration", args.lease_duration, "--renew-deadline", args.renew_deadline,
                    "--retry-period", args.retry_period,
                    stdout=asyncio.subprocess.DEVNULL, stderr=await asyncio.to_thread(log.open, "w"), env=env,
                )  # fmt: skip
                replicas.append(Replica(identity, process, log))
            started = time.perf_counter()
            sandbox_cpu0 = world.sandbox_cpu()
            try:
                await wait_for(
                    "the replicas share the shards",
                    lambda: len(holders(api)) == args.shards and None not in holders(api).values(),
                    120,
                )
                say("shards shared; creating the RoomSyncs")
                await world.reset_counters()
                for body in bodies:
                    await post(api, body)
                for r in replicas:
                    r.mark("start", started)
                initial = await wait_for(
                    "every RoomSync Synced", lambda: synced(api, names) == len(names), args.timeout, 5
                )
                traffic = await world.traffic()
                figures["initial sync wall s"] = round(initial, 1)
                figures["initial Graph creates"] = traffic.graph_by(operation="events.create")
                figures["initial Graph requests"] = traffic.graph_total
                figures["initial Planon requests"] = traffic.planon_total
                figures["shards per replica"] = dict(Counter(holders(api).values()))
                for r in replicas:
                    r.mark("synced", started)
                say(f"initial sync: {initial:.0f} s; steady for {args.steady} intervals")
                await world.reset_counters()
                steady_sandbox = world.sandbox_cpu()
                await asyncio.sleep(args.steady * interval_s)
                for r in replicas:
                    r.mark("steady", started)
                traffic = await world.traffic()
                figures["steady writes"] = traffic.graph_writes + traffic.planon_writes
                figures["steady Graph requests per room per interval"] = round(
                    traffic.graph_total / args.rooms / args.steady, 2
                )
                figures["steady sandbox CPU s per interval"] = round(
                    (world.sandbox_cpu() - steady_sandbox) / args.steady, 1
                )
                per_replica = {}
                owned = Counter(holders(api).values())
                rooms_run = rooms_per_replica(api, bodies, args.shards)
                for r in replicas:
                    per_replica[r.identity] = {
                        "shards": owned[r.identity],
                        "rooms": rooms_run[r.identity],
                        "initial CPU s": round(r.cpu("synced") - r.cpu("start"), 1),
                        "steady CPU s per interval": round((r.cpu("steady") - r.cpu("synced")) / args.steady, 1),
                        "RSS MB": round(r.marks[-1][3]),
                        "peak RSS MB": round(r.peak_rss()),
                    }
                figures["per replica"] = per_replica

                # -- takeover: more bookings, then the busiest replica dies --------------------------------------
                await world.reset_counters()
                await book_second(world)
                victim = max(replicas, key=lambda r: owned[r.identity])
                orphaned = [name for name, who in holders(api).items() if who == victim.identity]
                victim.process.send_signal(signal.SIGKILL)
                await victim.process.wait()
                say(f"killed {victim.identity} holding {len(orphaned)} shards")
                took = await wait_for(
                    "the survivors hold the orphaned shards",
                    lambda: all(holders(api)[n] not in (None, victim.identity) for n in orphaned),
                    120,
                    0.2,
                )
                figures["killed replica"] = victim.identity
                figures["shards moved"] = len(orphaned)
                figures["takeover s (shards held by survivors)"] = round(took, 1)
                began = time.perf_counter()
                while True:
                    traffic = await world.traffic()
                    if traffic.graph_by(operation="events.create") >= args.rooms:
                        break
                    if time.perf_counter() - began > args.timeout:
                        raise TimeoutError("the second reservations did not all reach the calendar")
                    await asyncio.sleep(5)
                figures["all second reservations in the calendar s (after the kill)"] = round(
                    time.perf_counter() - began + took, 1
                )
                await asyncio.sleep(interval_s)  # one more interval: nothing more may be written
                traffic = await world.traffic()
                figures["Graph creates after the kill (== rooms)"] = traffic.graph_by(operation="events.create")
                figures["shards per replica after"] = dict(Counter(holders(api).values()))
                figures["rooms per replica after"] = dict(rooms_per_replica(api, bodies, args.shards))
                figures["sandbox CPU s (whole run)"] = round(world.sandbox_cpu() - sandbox_cpu0, 1)
                figures["wall s (whole run)"] = round(time.perf_counter() - started, 1)
            finally:
                for r in replicas:
                    if r.process.returncode is None:
                        r.process.send_signal(signal.SIGTERM)
                for r in replicas:
                    try:
                        await asyncio.wait_for(r.process.wait(), 60)
                    except TimeoutError:
                        r.process.kill()
                        await r.process.wait()
                failed = [r.identity for r in replicas if r.process.returncode not in (0, -signal.SIGKILL)]
                figures["replicas that exited with an error"] = failed
                figures["shards lost (renew deadline passed), all replicas"] = sum(
                    r.log.read_text().count("lost shard") for r in replicas
                )
                for r in replicas:
                    tail = r.log.read_text().splitlines()[-5:]
                    if r.identity in failed:
                        print(f"--- {r.identity} log tail:", *tail, sep="\n")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replicas", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="300 rooms, 60 s interval")
    parser.add_argument("--rooms", type=int, default=10_000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--rooms-per-roomsync", type=int, default=100)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--interval", default="300s", help="RoomSync interval, in seconds (e.g. 300s)")
    parser.add_argument("--steady", type=int, default=2, help="steady intervals measured")
    parser.add_argument("--latency", type=float, default=0.02, help="emulated latency per request, seconds")
    parser.add_argument("--timeout", type=float, default=3600, help="limit of each waiting phase, seconds")
    parser.add_argument("--lease-duration", default="15s", help="the replicas' lease timings (client-go's defaults)")
    parser.add_argument("--renew-deadline", default="10s")
    parser.add_argument("--retry-period", default="2s")
    parser.add_argument("--json", type=Path, default=RESULTS / "replicas.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.rooms, args.interval, args.steady, args.timeout = 300, "60s", 1, 600
    figures = asyncio.run(measure(args))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    ok = (
        figures["Graph creates after the kill (== rooms)"] == args.rooms
        and figures["initial Graph creates"] == args.rooms
        and figures["steady writes"] == 0
        and not figures["replicas that exited with an error"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
