"""What the EWS face does to traffic: the request log and counters, EWSMaxConcurrency per budget, and injected
faults - ``ErrorServerBusy`` with BackOffMilliseconds, HTTP 503, a SOAP fault on HTTP 500, too many connections,
slow answers and dropped connections, before or after the request was carried out (a lost answer).

A budget is what Exchange throttles against: the impersonated mailbox when the caller impersonates, the service
account itself when it works as a delegate (so every room shares one budget).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

KINDS = ("ServerBusy", "Unavailable", "InternalError", "ConnectionCount", "Reset", "Delay")


@dataclass
class EwsFault:
    """One injected misbehaviour for the next ``count`` matching requests."""

    kind: str
    count: int = 1
    mailbox: str | None = None
    operation: str | None = None
    back_off_ms: int = 50
    code: str = "ErrorInternalServerError"
    after: bool = False  # carry the request out first, then answer with the fault (the client never sees the result)
    delay: float = 0.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EwsFault:
        kind = str(data.get("kind", ""))
        if kind not in KINDS:
            raise ValueError(f"fault kind {kind!r} is not one of {', '.join(KINDS)}")
        return cls(
            kind=kind,
            count=int(data.get("count", 1)),
            mailbox=(str(data["mailbox"]).casefold() if data.get("mailbox") else None),
            operation=data.get("operation") or None,
            back_off_ms=int(data.get("backOffMs", 50)),
            code=str(data.get("code") or "ErrorInternalServerError"),
            after=bool(data.get("after", False)),
            delay=float(data.get("delay", 0.0)),
        )

    def matches(self, mailbox: str | None, operation: str) -> bool:
        if self.count <= 0:
            return False
        if self.mailbox and self.mailbox != (mailbox or ""):
            return False
        return not self.operation or self.operation == operation


@dataclass
class EwsTraffic:
    max_concurrency: int = 27  # EWSMaxConcurrency (Exchange 2013 and later)
    latency: float = 0.0
    requests: Counter[tuple[str, str, int]] = field(default_factory=Counter)  # (mailbox, operation, HTTP status)
    log: list[dict[str, Any]] = field(default_factory=list)
    in_flight: Counter[str] = field(default_factory=Counter)
    max_in_flight: Counter[str] = field(default_factory=Counter)
    faults: list[EwsFault] = field(default_factory=list)
    log_limit: int = 20000

    def take_fault(self, mailbox: str | None, operation: str) -> EwsFault | None:
        for fault in self.faults:
            if fault.matches(mailbox, operation):
                fault.count -= 1
                return fault
        return None

    def enter(self, budget: str) -> bool:
        """Count a request in; False when the budget is over its concurrency limit."""
        self.in_flight[budget] += 1
        self.max_in_flight[budget] = max(self.max_in_flight[budget], self.in_flight[budget])
        return self.in_flight[budget] <= self.max_concurrency

    def leave(self, budget: str) -> None:
        self.in_flight[budget] -= 1

    def record(self, entry: dict[str, Any]) -> None:
        self.requests[(entry.get("mailbox") or "-", entry["operation"], entry["status"])] += 1
        self.log.append(entry)
        if len(self.log) > self.log_limit:
            del self.log[: len(self.log) - self.log_limit]

    def summary(self) -> dict[str, Any]:
        per_mailbox: Counter[str] = Counter()
        for (mailbox, _, _), count in self.requests.items():
            per_mailbox[mailbox] += count
        return {
            "total": sum(self.requests.values()),
            "perMailbox": dict(per_mailbox),
            "requests": [
                {"mailbox": mb, "operation": op, "status": st, "count": n}
                for (mb, op, st), n in sorted(self.requests.items())
            ],
            "maxInFlight": dict(self.max_in_flight),
        }

    def reset(self) -> None:
        self.requests.clear()
        self.log.clear()
        self.max_in_flight.clear()
