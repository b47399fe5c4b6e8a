"""2-4 for Google Workspace, beside Graph's: initial sync, steady state, change propagation on one synced world.

The world is ``rooms`` room resources in the Google sandbox and reservation units in the Planon sandbox (their own
process, 20 ms per request), one RoomSync over them opened as ``roomsync sync`` opens it. Every figure is counted
by the sandboxes, and judged against the floor, not against the product's earlier counts:

- steady state: a cycle in which nothing changed needs at least one request per room (a sync-token list); target
  <= 1 per room;
- propagation: one change is one write on the other side (k changes -> k writes), and the cycle after writes 0
  (no echo of our own writes);
- initial sync: one insert per reservation, and nothing written in the cycle after.

Run as ``python -m benchmarks.google_path '<json options>'`` it serves the sandboxes (the child process).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.core import Context, Result
from benchmarks.sandboxes import NAMESPACE, PEOPLE, ROOT, planon_seed, room_code, slot
from roomsync.cli.sync_cmd import open_runners
from roomsync.config.bundle import Bundle, fill
from roomsync.config.manifests import Document
from roomsync.sandbox.google import GoogleSandbox
from roomsync.sandbox.google import SandboxAdmin as GoogleAdmin
from roomsync.sandbox.planon import PlanonSandbox
from roomsync.sandbox.planon import SandboxAdmin as PlanonAdmin
from roomsync.sync.runner import ClientPool, RoomSyncRunner

LATENCY = 0.020
DOMAIN = "bench.example"


def room_calendar(i: int) -> str:
    return f"g{i:04d}@{DOMAIN}"


async def _serve(options: dict[str, Any]) -> None:
    rooms, latency = int(options["rooms"]), float(options.get("latency", 0.0))
    resources = [{"email": room_calendar(i), "booking": "addAll", "timeZone": "Europe/Amsterdam"} for i in range(rooms)]
    async with (
        PlanonSandbox(seed=planon_seed(rooms), latency=latency) as planon,
        GoogleSandbox(resources, domain=DOMAIN, latency=latency) as google,
    ):
        spec, secrets = google.connection_spec()
        info = {
            "planon": {"root": planon.root_url, "spec": planon.connection_spec()},
            "google": {"origin": google.origin, "spec": spec},
            "secrets": [[n, k, v] for (n, k), v in {**planon.demo_secrets(), **secrets}.items()],
        }
        print(json.dumps(info), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


class GoogleWorld:
    def __init__(self, rooms: int) -> None:
        self.rooms = rooms
        self.process: asyncio.subprocess.Process | None = None
        self.pool = ClientPool()
        self.runner: RoomSyncRunner | None = None
        self.planon: PlanonAdmin | None = None
        self.google: GoogleAdmin | None = None
        self.day0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    async def __aenter__(self) -> GoogleWorld:
        options = json.dumps({"rooms": self.rooms, "latency": LATENCY})
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.google_path", options, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, cwd=ROOT, limit=16 * 1024 * 1024,
        )  # fmt: skip
        assert self.process.stdout is not None
        info = json.loads(await asyncio.wait_for(self.process.stdout.readline(), timeout=60))
        self.planon, self.google = PlanonAdmin(info["planon"]["root"]), GoogleAdmin(info["google"]["origin"])
        secrets: dict[str, dict[str, str]] = {}
        for name, key, value in info["secrets"]:
            secrets.setdefault(name, {})[key] = value
        docs: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": n, "namespace": NAMESPACE}, "stringData": d}
            for n, d in secrets.items()
        ]
        for name, spec in (
            ("planon", {"planon": info["planon"]["spec"]}),
            ("workspace", {"google": info["google"]["spec"]}),
        ):
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
                    "calendar": {"connectionRef": "workspace"},
                    "leader": "Planon",
                    "rooms": [{"planon": room_code(i), "calendar": room_calendar(i)} for i in range(self.rooms)],
                    "window": {"past": "1d", "future": "90d"},
                },
            }
        )
        bundle = fill(Bundle(environ={}), [Document("benchmark", i, d) for i, d in enumerate(docs)])
        if not bundle.ok:
            raise RuntimeError("; ".join(str(p) for p in bundle.problems))
        runners, problems = await open_runners(bundle, self.pool, allow_mass_delete=False)
        if problems:
            raise RuntimeError("; ".join(problems))
        self.runner = runners[0]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.pool.aclose()
        for admin in (self.planon, self.google):
            if admin is not None:
                await admin.aclose()
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()
            await asyncio.wait_for(self.process.wait(), timeout=10)

    async def cycle(self, *, full: bool = False) -> dict[str, Any]:
        """One operator cycle and what the sandboxes counted for it."""
        assert self.runner is not None and self.planon is not None and self.google is not None
        await asyncio.gather(self.planon.reset_requests(), self.google.reset_requests())
        clock = time.perf_counter()
        result = await self.runner.cycle(datetime.now(UTC), force_full=full)
        wall = time.perf_counter() - clock
        planon, google = await asyncio.gather(self.planon.requests(), self.google.requests())
        calls = [r for r in google["requests"] if r["operation"] != "token"]
        ops: Counter[str] = Counter()
        for r in calls:
            ops[f"{r['method']} {r['operation']} {r['status']}"] += r["count"]
        return {
            "result": result,
            "wall": wall,
            "google": sum(r["count"] for r in calls),
            "google_writes": sum(r["count"] for r in calls if r["method"] != "GET"),
            "google_ops": dict(ops),
            "planon": sum(n for k, n in planon.items() if k != "token"),
            "planon_writes": sum(n for k, n in planon.items() if k != "token" and not k.startswith("read/")),
        }


async def run(ctx: Context) -> list[Result]:
    rooms, per_room, k = (20, 10, 5) if ctx.quick else (200, 50, 20)
    async with GoogleWorld(rooms) as world:
        assert world.planon is not None and world.google is not None
        ctx.say(f"Google initial sync: {rooms} rooms x {per_room} from Planon into empty room calendars")
        reservations = []
        for room in range(rooms):
            for index in range(per_room):
                start, end = slot(index, world.day0)
                reservations.append(
                    {"unit": room_code(room), "start": start.isoformat(), "end": end.isoformat(),
                     "description": f"Meeting {room}-{index}", "requestor": PEOPLE[(room + index) % len(PEOPLE)]}
                )  # fmt: skip
        await world.planon.seed({"reservations": reservations})
        initial = Result("google-initial", "4g. Google: initial sync from Planon into empty room calendars")
        first = await world.cycle()
        after = await world.cycle()
        initial.figures.update(
            {"rooms x bookings": f"{rooms} x {per_room}", "Google requests": first["google"],
             "Google operations": first["google_ops"], "wall time": f"{first['wall']:.2f} s"}
        )  # fmt: skip
        inserts = sum(n for op, n in first["google_ops"].items() if op.startswith("POST events.insert 200"))
        initial.check("one insert per reservation (floor)", inserts, "==", rooms * per_room)
        initial.check("writes in the cycle after", after["google_writes"] + after["planon_writes"], "==", 0)
        ctx.step()

        ctx.say("Google steady state: incremental (syncToken) cycles against full-window reads")
        steady = Result("google-steady", "2g. Google: steady state, nothing changed")
        incremental = [await world.cycle() for _ in range(3)]
        full = [await world.cycle(full=True) for _ in range(2)]
        worst = max(c["google"] for c in incremental) / rooms
        steady.table = [
            {"cycle": "incremental (syncToken)", "Google requests": incremental[-1]["google"],
             "Google / room": round(incremental[-1]["google"] / rooms, 2), "wall s": round(incremental[-1]["wall"], 3)},
            {"cycle": "full-window read", "Google requests": full[-1]["google"],
             "Google / room": round(full[-1]["google"] / rooms, 2), "wall s": round(full[-1]["wall"], 3)},
        ]  # fmt: skip
        steady.check("Google requests per room per no-change cycle (floor: 1)", worst, "<=", 1.0)
        steady.check(
            "writes in 3 incremental cycles", sum(c["google_writes"] + c["planon_writes"] for c in incremental), "==", 0
        )
        steady.check(
            "writes in 2 full-read cycles", sum(c["google_writes"] + c["planon_writes"] for c in full), "==", 0
        )
        ctx.step()

        ctx.say("Google change propagation: k changes each way")
        propagation = Result("google-propagation", "3g. Google: k changes -> k writes, then 0")
        for room in range(k):
            [first_reservation] = (await world.planon.reservations(room_code(room)))[:1]
            await world.planon.edit(
                int(first_reservation["syscode"]), subject=f"{first_reservation['description']} (renamed)"
            )
        planon_side = await world.cycle()
        echo = await world.cycle()
        propagation.check(f"{k} renamed in Planon: Google writes (floor: {k})", planon_side["google_writes"], "==", k)
        propagation.check(
            f"{k} renamed in Planon: writes in the next cycle", echo["google_writes"] + echo["planon_writes"], "==", 0
        )
        day = world.day0 + timedelta(days=60)
        for room in range(k):
            start, end = slot(room % 5, day)
            await world.google.book(PEOPLE[room % len(PEOPLE)], [room_calendar(room)], f"Request {room}", start, end)
        requests = await world.cycle()
        echo = await world.cycle()
        propagation.check(
            f"{k} requests (Planon leads): Planon writes (floor: {k})", requests["planon_writes"], "==", k
        )
        propagation.check(
            f"{k} requests (Planon leads): Google writes, the answers (floor: {k})", requests["google_writes"], "==", k
        )
        propagation.check(
            f"{k} requests: writes in the next cycle", echo["google_writes"] + echo["planon_writes"], "==", 0
        )
        propagation.table = [
            {"change": "renamed in Planon", "Google ops": planon_side["google_ops"]},
            {"change": "requests to rooms Planon leads", "Google ops": requests["google_ops"]},
        ]
        ctx.step()
    return [initial, steady, propagation]


if __name__ == "__main__":
    asyncio.run(_serve(json.loads(sys.argv[1])))
