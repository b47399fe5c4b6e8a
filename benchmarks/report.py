"""Results as JSON (machine-readable) and as the markdown docs/performance.md carries."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.core import Result


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        memory_kb = 0
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
    }


def as_json(results: list[Result], command: str, quick: bool) -> dict[str, Any]:
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "quick": quick,
        "machine": machine(),
        "ok": all(r.ok for r in results),
        "results": [r.as_json() for r in results],
    }


def write_json(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def _table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    return [*lines, ""]


def markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        f"Run {data['when']} with `{data['command']}` on {m['nproc']} CPU(s) ({m['cpu']}), {m['memory_gb']} GB, "
        f"Python {m['python']}; load average at start {', '.join(f'{x:.2f}' for x in m['load_average_at_start'])}.",
        "",
        "| # | measurement | target | measured | ok |",
        "|---|---|---|---|---|",
    ]
    for result in data["results"]:
        if result["error"]:
            lines.append(f"| | {result['title']} | | error: {result['error']} | no |")
        for check in result["checks"]:
            ok = "yes" if check["ok"] else "**no**"
            value = check["value"]
            shown = f"{value:,.3g}" if isinstance(value, float) and not float(value).is_integer() else f"{value:,.0f}"
            limit = check["limit"]
            target = (
                f"{check['op']} {limit:,.3g}"
                if isinstance(limit, float) and not limit.is_integer()
                else f"{check['op']} {limit:,.0f}"
            )
            unit = f" {check['unit']}" if check["unit"] else ""
            lines.append(f"| {result['key']} | {check['name']} | {target}{unit} | {shown}{unit} | {ok} |")
    lines.append("")
    for result in data["results"]:
        lines += [f"### {result['title']}", ""]
        lines += [f"- {name}: {value}" for name, value in result["figures"].items()]
        lines.append("")
        lines += _table(result["table"])
        lines += [f"> {note}" for note in result["notes"]]
        if result["notes"]:
            lines.append("")
    return "\n".join(lines)
