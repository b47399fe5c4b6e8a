"""What the sandbox does to traffic rather than to calendars: request counting (per calendar, method, operation,
status, and per delegated user), Google's per-user and per-project sliding one-minute quotas (configurable), and
injected faults (403 ``rateLimitExceeded``/``userRateLimitExceeded``, 429, 5xx, slow answers, lost answers).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MESSAGES = {
    "rateLimitExceeded": "Rate Limit Exceeded",
    "userRateLimitExceeded": "User Rate Limit Exceeded",
    "quotaExceeded": "Calendar usage limits exceeded.",
    "backendError": "Backend Error",
}


@dataclass
class Fault:
    """One injected misbehaviour, applied to the next ``count`` matching requests."""

    status: int | None = None
    reason: str | None = None
    count: int = 1
    calendar: str | None = None
    method: str | None = None
    path_contains: str | None = None
    delay: float = 0.0
    after: bool = False  # process the request, then drop the connection (a lost answer)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        fault = cls(
            status=data.get("status"),
            reason=data.get("reason"),
            count=int(data.get("count", 1)),
            calendar=(str(data["calendar"]).casefold() if data.get("calendar") else None),
            method=(str(data["method"]).upper() if data.get("method") else None),
            path_contains=data.get("pathContains"),
            delay=float(data.get("delay", 0.0)),
            after=bool(data.get("after", False)),
        )
        if fault.status is None and not (fault.delay or fault.after):
            raise ValueError("a fault needs a status, a delay or after (a lost answer)")
        return fault

    def matches(self, method: str, path: str, calendar: str | None) -> bool:
        if self.count <= 0:
            return False
        if self.calendar and self.calendar != (calendar or ""):
            return False
        if self.method and self.method != method:
            return False
        return not self.path_contains or self.path_contains in path

    def default_reason(self) -> str:
        if self.reason:
            return self.reason
        return {403: "rateLimitExceeded", 429: "rateLimitExceeded", 404: "notFound"}.get(
            self.status or 0, "backendError"
        )


@dataclass
class Quota:
    """A sliding window: at most ``limit`` requests in any ``window`` seconds (None: unlimited)."""

    limit: int | None = None
    window: float = 60.0
    seen: deque[float] = field(default_factory=deque)

    def take(self, now: float) -> bool:
        if self.limit is None:
            return True
        while self.seen and self.seen[0] <= now - self.window:
            self.seen.popleft()
        if len(self.seen) >= self.limit:
            return False
        self.seen.append(now)
        return True


@dataclass
class Traffic:
    requests: Counter[tuple[str, str, str, int]] = field(default_factory=Counter)
    per_user: Counter[str] = field(default_factory=Counter)
    faults: list[Fault] = field(default_factory=list)
    latency: float = 0.0
    user_limit: int | None = None
    project_limit: int | None = None
    window: float = 60.0
    users: dict[str, Quota] = field(default_factory=dict)
    project: Quota = field(default_factory=Quota)
    log: list[dict[str, Any]] = field(default_factory=list)
    log_limit: int = 20000

    def take_fault(self, method: str, path: str, calendar: str | None) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path, calendar):
                fault.count -= 1
                return fault
        return None

    def over_quota(self, user: str | None) -> str | None:
        """The reason a request is refused for quota (None: within quota)."""
        now = time.monotonic()
        self.project.limit, self.project.window = self.project_limit, self.window
        if not self.project.take(now):
            return "rateLimitExceeded"
        quota = self.users.setdefault(user or "", Quota())
        quota.limit, quota.window = self.user_limit, self.window
        return None if quota.take(now) else "userRateLimitExceeded"

    def record(
        self, calendar: str | None, method: str, operation: str, status: int, user: str | None, path: str
    ) -> None:
        self.requests[(calendar or "-", method, operation, status)] += 1
        self.per_user[user or "-"] += 1
        self.log.append(
            {
                "calendar": calendar,
                "method": method,
                "operation": operation,
                "status": status,
                "user": user,
                "path": path,
            }
        )
        if len(self.log) > self.log_limit:
            del self.log[: len(self.log) - self.log_limit]

    def summary(self) -> dict[str, Any]:
        per_calendar: Counter[str] = Counter()
        for (calendar, _, _, _), n in self.requests.items():
            per_calendar[calendar] += n
        return {
            "total": sum(self.requests.values()),
            "perCalendar": dict(per_calendar),
            "perUser": dict(self.per_user),
            "requests": [
                {"calendar": c, "method": m, "operation": o, "status": s, "count": n}
                for (c, m, o, s), n in sorted(self.requests.items())
            ],
        }

    def reset(self) -> None:
        self.requests.clear()
        self.per_user.clear()
        self.log.clear()


def operation(method: str, parts: list[str]) -> str:
    """``events.list``, ``events.insert``, ``events.patch`` ... from the path after ``/calendar/v3/``."""
    if parts[:1] == ["calendars"] and len(parts) >= 3 and parts[2] == "events":
        rest = parts[3:]
        if not rest:
            return "events.list" if method == "GET" else "events.insert"
        if rest in (["import"], ["watch"]):
            return f"events.{rest[0]}"
        if len(rest) == 1:
            return {
                "GET": "events.get",
                "PATCH": "events.patch",
                "PUT": "events.update",
                "DELETE": "events.delete",
            }.get(method, "events")
        return f"events.{rest[1]}"
    if parts == ["channels", "stop"]:
        return "channels.stop"
    return "/".join(parts[:1]) or "unknown"
