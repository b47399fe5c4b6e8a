"""What a measurement produces: figures, the checks against the issue's targets, and notes that explain them."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.progress import Progress, TaskID


@dataclass
class Check:
    """One target: ``value`` compared with ``limit`` by ``op`` (``<``, ``<=`` or ``==``)."""

    name: str
    value: float
    op: str
    limit: float
    unit: str = ""

    @property
    def ok(self) -> bool:
        if self.op == "<":
            return self.value < self.limit
        if self.op == "<=":
            return self.value <= self.limit
        return self.value == self.limit

    def text(self) -> str:
        def fmt(x: float) -> str:
            return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.3g}" if abs(x) < 10 else f"{x:,.1f}"

        unit = f" {self.unit}" if self.unit else ""
        return f"{fmt(self.value)}{unit} {self.op} {fmt(self.limit)}{unit}"


@dataclass
class Result:
    key: str
    title: str
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    table: list[dict[str, Any]] = field(default_factory=list)  # rows of a side-by-side / scaling table
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(c.ok for c in self.checks)

    def check(self, name: str, value: float, op: str, limit: float, unit: str = "") -> Check:
        made = Check(name, value, op, limit, unit)
        self.checks.append(made)
        return made

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        for check, raw in zip(self.checks, data["checks"], strict=True):
            raw["ok"] = check.ok
        return data


@dataclass
class Context:
    """What every benchmark gets: the mode and a way to show progress."""

    quick: bool
    progress: Progress
    task: TaskID

    def say(self, text: str) -> None:
        self.progress.update(self.task, description=text)

    def step(self, advance: float = 1.0) -> None:
        self.progress.advance(self.task, advance)


Benchmark = Callable[[Context], Any]  # an async function (Context) -> Result


def peak_rss_mb() -> float:
    """This process's peak resident set size: ``VmHWM``, which belongs to the process's own memory. Not
    ``getrusage``'s ``ru_maxrss``: Linux keeps that across ``execve``, so a worker started by a harness that already
    held 340 MB reported the harness's peak, not its own."""
    return proc_status_mb(os.getpid(), "VmHWM")


def proc_status_mb(pid: int, field_name: str) -> float:
    """``VmRSS`` / ``VmHWM`` of another process, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    raise LookupError(field_name)


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of another process."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]
