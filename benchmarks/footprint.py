"""6. Operator footprint: a ``roomsync sync`` process holding 1,000 rooms, its RSS and CPU per steady cycle.

The process is the real CLI (``roomsync sync -f manifests.yaml -o json``) pointed at the sandboxes; the harness only
reads its /proc figures at cycle boundaries (each cycle prints one JSON document).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.core import Context, Result, proc_cpu_seconds, proc_status_mb
from benchmarks.sandboxes import World

STEADY_CYCLES = 3


async def _documents(stream: asyncio.StreamReader) -> Any:
    """Yield the JSON documents the process prints (indented, one after another; each ends with a ``}`` or ``]``
    alone on its line, the only place a decode is tried: a first cycle's document lists thousands of actions)."""
    lines: list[str] = []
    while True:
        line = await stream.readline()
        if not line:
            return
        text = line.decode()
        lines.append(text)
        if text.rstrip() not in ("}", "]"):
            continue
        try:
            document = json.loads("".join(lines))
        except json.JSONDecodeError:
            continue
        lines.clear()
        yield document


async def run(ctx: Context) -> Result:
    rooms, per_room = (100, 2) if ctx.quick else (1000, 20)
    result = Result("footprint", f"6. Operator footprint: `roomsync sync` holding {rooms:,} rooms")
    async with World(rooms, latency=0.0, interval="2s", open_runner=False) as world:
        ctx.say(f"footprint: seeding {rooms:,} rooms x {per_room}")
        await world.seed_planon(per_room)
        with tempfile.TemporaryDirectory(prefix="roomsync-bench-") as tmp:
            manifest = Path(tmp, "tower.yaml")
            errors = await asyncio.to_thread(Path(tmp, "stderr.txt").open, "w")
            await asyncio.to_thread(manifest.write_text, yaml.safe_dump_all(world.manifests(interval="2s")))
            roomsync = Path(sys.executable).parent / "roomsync"
            process = await asyncio.create_subprocess_exec(
                str(roomsync), "sync", "-f", str(manifest), "-o", "json",
                stdout=asyncio.subprocess.PIPE, stderr=errors, limit=64 * 1024 * 1024,
            )  # fmt: skip
            assert process.stdout is not None
            marks: list[dict[str, Any]] = []
            started = time.perf_counter()
            try:
                async for document in _documents(process.stdout):
                    marks.append(
                        {
                            "at": time.perf_counter() - started,
                            "cpu": proc_cpu_seconds(process.pid),
                            "rss": proc_status_mb(process.pid, "VmRSS"),
                            "hwm": proc_status_mb(process.pid, "VmHWM"),
                            "reason": document.get("reason") if isinstance(document, dict) else None,
                            "counters": document.get("counters") if isinstance(document, dict) else None,
                        }
                    )
                    ctx.say(f"footprint: cycle {len(marks)} of `roomsync sync` ({rooms:,} rooms)")
                    if len(marks) >= 2 + STEADY_CYCLES:
                        break
            finally:
                if process.returncode is None:
                    process.terminate()
                await process.wait()
                errors.close()
                stderr_tail = (await asyncio.to_thread(Path(tmp, "stderr.txt").read_text))[-1500:]
        ctx.step()
    if len(marks) < 2 + STEADY_CYCLES:
        result.error = f"`roomsync sync` printed only {len(marks)} cycle(s); its stderr ends: {stderr_tail}"
        return result
    steady = marks[1:]  # cycle 1 is the initial sync; the CPU between later marks is steady cycles (+ 2 s sleeps)
    cpu_per_cycle = (steady[-1]["cpu"] - steady[0]["cpu"]) / (len(steady) - 1)
    result.figures.update(
        {
            "rooms x bookings": f"{rooms:,} x {per_room}",
            "initial sync (first cycle)": f"{marks[0]['at']:.1f} s, {marks[0]['cpu']:.1f} CPU s (incl. start-up)",
            "RSS after initial sync": f"{marks[0]['rss']:.0f} MB",
            "RSS in steady state": f"{marks[-1]['rss']:.0f} MB",
            "peak RSS (VmHWM)": f"{marks[-1]['hwm']:.0f} MB",
            "CPU s per steady cycle": round(cpu_per_cycle, 3),
            "CPU s per steady cycle per 100 rooms": round(cpu_per_cycle / rooms * 100, 3),
            "first cycle counters": marks[0]["counters"],
        }
    )
    created = (marks[0]["counters"] or {}).get("created", 0)
    result.check("reservations created by the first cycle", created, "==", rooms * per_room)
    result.check("peak RSS of the operator process", marks[-1]["hwm"], "<", 300, "MB")
    result.check("steady cycles Synced", sum(1 for m in steady if m["reason"] == "Synced"), "==", len(steady))
    if ctx.quick:
        result.notes.append(f"quick mode: {rooms} rooms; `make bench` runs 1,000 rooms x 20")
    return result
