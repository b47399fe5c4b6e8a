"""Fault injection: make chosen requests fail the way real networks and servers fail.

A fault matches requests by operation (``read``, ``execute``, ``update``, ``changeState``, ``delete``, ``token`` or
``*``) and optionally by definition, skips the first ``skip`` matches and then fires ``times`` times:

- ``status``: answer ``status`` (default 503) with an ``errors`` body, without doing anything; with ``retry_after``
  also a ``Retry-After`` header, as the gateway in front of a Planon Cloud tenant may send with a 429 or 503
  (Planon documents neither: the emulator's choice, so a client can be tested both ways);
- ``slow``: wait ``delay`` seconds, then answer normally (client time-outs);
- ``empty``: a read answers ``{"records": []}`` (a glitching backend; tests the engine's mass-deletion guard);
- ``malformed``: answer 200 with a body that is not JSON;
- ``truncated``: do the request, then send only the first half of the real JSON body;
- ``lost``: do the request (the write is committed), then answer 504 as a proxy that lost the answer would;
- ``warning``: answer 422 with a ``warnings`` entry ``code`` unless the request already answers it;
- ``reset``: drop the connection without answering (nothing is done);
- ``oversized``: do the request, then answer its JSON padded with ``size`` bytes of white space (a 10 MB body);
- ``person``: a person's change at a touchpoint lands just before the request runs (``edit``: the admin ``/edit``
  body, e.g. ``{"syscode": 1001, "subject": "..."}``, or ``{"syscode": 1001, "state": "UsrReservationCancelled"}``),
  so a writer's precondition meets a change made between its read and its write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

KINDS: Final = frozenset(
    {"status", "slow", "empty", "malformed", "truncated", "lost", "warning", "reset", "oversized", "person"}
)


@dataclass
class Fault:
    kind: str
    op: str = "*"
    definition: str | None = None
    times: int = 1
    skip: int = 0
    status: int = 503
    delay: float = 0.0
    retry_after: str | None = None
    code: str = "PN_H09999"
    description: str = "Injected warning: please confirm."
    size: int = 10 * 1024 * 1024
    edit: dict[str, Any] | None = None
    fired: int = field(default=0)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(sorted(KINDS))}")
        if (self.kind == "person") != (self.edit is not None):
            raise ValueError("a person fault needs an edit (and only a person fault takes one)")
        if self.times < 1 or self.skip < 0:
            raise ValueError("times must be >= 1 and skip >= 0")

    def matches(self, op: str, definition: str | None) -> bool:
        return (self.op in ("*", op)) and (self.definition is None or self.definition == definition)


class Faults:
    """The armed faults, consumed in the order they were added."""

    def __init__(self) -> None:
        self.armed: list[Fault] = []
        self.latency = 0.0  # seconds added to every emulated API request (benchmarks)

    def add(self, fault: Fault) -> None:
        self.armed.append(fault)

    def clear(self) -> None:
        self.armed.clear()

    def take(self, op: str, definition: str | None) -> Fault | None:
        for fault in self.armed:
            if not fault.matches(op, definition):
                continue
            if fault.skip > 0:
                fault.skip -= 1
                continue
            fault.fired += 1
            if fault.fired >= fault.times:
                self.armed.remove(fault)
            return fault
        return None
