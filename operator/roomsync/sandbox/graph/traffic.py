"""What the sandbox does to traffic rather than to calendars: request counting, the per app and mailbox concurrency
limit and request budget, configurable latency, and injected faults (429 storms with fractional Retry-After, 5xx,
slow answers, connection resets, malformed JSON, and a person's edit that lands just before a request).
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    """One injected misbehaviour, applied to the next ``count`` matching requests."""

    status: int | None = None  # 429 / 500 / 503 / 504 ...; None with ``delay`` = only slow
    count: int = 1
    mailbox: str | None = None
    method: str | None = None
    path_contains: str | None = None
    retry_after: str | None = None
    delay: float = 0.0
    reset: bool = False
    after: bool = False  # with ``reset``: process the request first, then drop the answer (a lost response)
    malformed: bool = False
    code: str | None = None
    message: str | None = None
    #: a person's edit in Outlook (the admin ``outlook/edit`` body) made just before the request is processed
    edit: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        fault = cls(
            status=data.get("status"),
            count=int(data.get("count", 1)),
            mailbox=(data.get("mailbox") or None) and str(data["mailbox"]).casefold(),
            method=(data.get("method") or None) and str(data["method"]).upper(),
            path_contains=data.get("pathContains") or data.get("path_contains"),
            retry_after=None if data.get("retryAfter") is None else str(data.get("retryAfter")),
            delay=float(data.get("delay", 0.0)),
            reset=bool(data.get("reset", False)),
            after=bool(data.get("after", False)),
            malformed=bool(data.get("malformed", False)),
            code=data.get("code"),
            message=data.get("message"),
            edit=dict(data["edit"]) if data.get("edit") else None,
        )
        if fault.status is None and not (fault.delay or fault.reset or fault.malformed or fault.edit):
            raise ValueError("a fault needs a status, a delay, reset, malformed or an edit")
        return fault

    def matches(self, method: str, path: str, mailbox: str | None) -> bool:
        if self.count <= 0:
            return False
        if self.mailbox and self.mailbox != (mailbox or ""):
            return False
        if self.method and self.method != method:
            return False
        if self.path_contains:
            return self.path_contains in path
        return path.startswith("/v1.0/")


@dataclass
class Budget:
    """Exchange Online's request budget: 10,000 requests per 10 minutes per app per mailbox (graph-and-ews.md
    1.6). Tests set a small one."""

    requests: int = 10_000
    seconds: float = 600.0


@dataclass
class Traffic:
    """Counters and knobs. ``requests`` counts (mailbox, method, operation, status, batched) for every Graph request:
    a ``$batch`` is counted once as itself and once per request inside it (``batched``), so ``total`` counts what
    the mailboxes served and ``http`` the HTTP requests that reached the tenant.

    Limits are per app and mailbox: at most ``concurrency_limit`` requests in flight (4 in Exchange Online; the
    reference calls the scope ambiguous, the emulator takes app + mailbox) and ``budget`` requests per window.
    """

    concurrency_limit: int = 4
    concurrency_retry_after: str = "1"
    latency: float = 0.0
    budget: Budget = field(default_factory=Budget)
    requests: Counter[tuple[str, str, str, int, bool]] = field(default_factory=Counter)
    log: list[dict[str, Any]] = field(default_factory=list)
    in_flight: Counter[tuple[str, str]] = field(default_factory=Counter)  # (app, mailbox)
    max_in_flight: Counter[str] = field(default_factory=Counter)  # mailbox
    #: HTTP requests in flight across all mailboxes (a $batch once, not its inner requests) and the most seen
    http_in_flight: int = 0
    max_http_in_flight: int = 0
    spent: dict[tuple[str, str], deque[float]] = field(default_factory=dict)  # (app, mailbox) -> request times
    faults: list[Fault] = field(default_factory=list)
    log_limit: int = 20000

    def enter(self, app: str, mailbox: str) -> None:
        self.in_flight[(app, mailbox)] += 1
        self.max_in_flight[mailbox] = max(self.max_in_flight[mailbox], self.in_flight[(app, mailbox)])

    def leave(self, app: str, mailbox: str) -> None:
        self.in_flight[(app, mailbox)] -= 1

    def http_enter(self) -> None:
        self.http_in_flight += 1
        self.max_http_in_flight = max(self.max_http_in_flight, self.http_in_flight)

    def http_leave(self) -> None:
        self.http_in_flight -= 1

    def spend(self, app: str, mailbox: str, now: float | None = None) -> int | None:
        """Count one request against the budget; the whole seconds to wait when it is spent (nothing counted)."""
        now = time.monotonic() if now is None else now
        times = self.spent.setdefault((app, mailbox), deque())
        while times and times[0] <= now - self.budget.seconds:
            times.popleft()
        if len(times) >= self.budget.requests:
            return max(1, math.ceil(times[0] + self.budget.seconds - now))
        times.append(now)
        return None

    def take_fault(self, method: str, path: str, mailbox: str | None) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path, mailbox):
                fault.count -= 1
                return fault
        return None

    def record(self, entry: dict[str, Any]) -> None:
        key = (entry["mailbox"] or "-", entry["method"], entry["operation"], entry["status"], entry["batched"])
        self.requests[key] += 1
        self.log.append(entry)
        if len(self.log) > self.log_limit:
            del self.log[: len(self.log) - self.log_limit]

    def summary(self) -> dict[str, Any]:
        per_mailbox: Counter[str] = Counter()
        for (mailbox, _, _, _, _), n in self.requests.items():
            per_mailbox[mailbox] += n
        return {
            "total": sum(self.requests.values()),
            "http": sum(n for (*_, batched), n in self.requests.items() if not batched),
            "perMailbox": dict(per_mailbox),
            "requests": [
                {"mailbox": m, "method": meth, "operation": op, "status": st, "batched": b, "count": n}
                for (m, meth, op, st, b), n in sorted(self.requests.items())
            ],
            "maxInFlight": dict(self.max_in_flight),
            "maxHttpInFlight": self.max_http_in_flight,
        }

    def reset(self) -> None:
        self.requests.clear()
        self.log.clear()
        self.max_in_flight.clear()
        self.max_http_in_flight = self.http_in_flight
        self.spent.clear()


def operation(method: str, segments: list[str]) -> str:
    """A stable operation name for counting (``calendarView``, ``delta``, ``events.create`` ...)."""
    if not segments:
        return "unknown"
    if segments[0] == "places":
        return "places"
    if segments[0] != "users" or len(segments) < 3:
        return segments[0]
    rest = segments[2:]
    if rest[0] == "calendarView":
        return "delta" if len(rest) > 1 else "calendarView"
    if rest[0] == "events":
        if len(rest) == 1:
            return "events.create" if method == "POST" else "events.list"
        if len(rest) == 2:
            return {"GET": "events.get", "PATCH": "events.update", "DELETE": "events.delete"}.get(method, "events")
        return f"events.{rest[2]}"
    return rest[0]
