"""Kubernetes Events for decisions a person should see, rate-limited per object.

Status says how things are; Events say what was decided and when: a meeting request declined on behalf of a room,
a booking Planon refused, a cycle refused for deleting too much, credentials rejected. A RoomSync that fails every
minute must not post an Event every minute, so the same reason and message for the same object is posted at most
once per ``interval`` (default ten minutes); a new message (another booking declined) is posted at once. At most
``per_cycle`` Events are posted for one cycle; the rest are summed up in one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf

from roomsync.model import Response
from roomsync.sync.cycle import CycleResult

NORMAL, WARNING = "Normal", "Warning"

#: Poster with kopf.event's shape: (object body, type, reason, message).
Poster = Callable[[Mapping[str, Any], str, str, str], None]


def kopf_poster(body: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
    kopf.event(body, type=type_, reason=reason, message=message)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Decision:
    type: str
    reason: str
    message: str


class EventRecorder:
    def __init__(
        self,
        post: Poster = kopf_poster,
        *,
        interval: timedelta = timedelta(minutes=10),
        per_cycle: int = 10,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._post = post
        self.interval = interval
        self.per_cycle = per_cycle
        self._clock = clock
        self._last: dict[tuple[str, str, str], datetime] = {}

    def record(self, body: Mapping[str, Any], decisions: list[Decision]) -> list[Decision]:
        """Post what is not rate-limited; return what was posted."""
        now = self._clock()
        self._expire(now)
        meta = body.get("metadata") or {}
        owner = str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")
        fresh = [d for d in decisions if self._due(owner, d, now)]
        shown, rest = fresh[: self.per_cycle], fresh[self.per_cycle :]
        if rest:
            reasons = sorted({d.reason for d in rest})
            kind = WARNING if any(d.type == WARNING for d in rest) else NORMAL
            shown.append(Decision(kind, reasons[0], f"and {len(rest)} more like this ({', '.join(reasons)})"))
        for decision in shown:
            self._last[(owner, decision.reason, decision.message)] = now
            self._post(body, decision.type, decision.reason, decision.message)
        return shown

    def forget(self, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        owner = str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")
        for key in [k for k in self._last if k[0] == owner]:
            del self._last[key]

    def _due(self, owner: str, decision: Decision, now: datetime) -> bool:
        last = self._last.get((owner, decision.reason, decision.message))
        return last is None or now - last >= self.interval

    def _expire(self, now: datetime) -> None:
        if len(self._last) < 1024:
            return
        for key in [k for k, t in self._last.items() if now - t >= self.interval]:
            del self._last[key]


def failure(reason: str, message: str) -> list[Decision]:
    """A RoomSync that could not run a cycle (missing Connection or Secret, invalid spec, ...)."""
    return [Decision(WARNING, reason, message)]


def decisions(result: CycleResult) -> list[Decision]:
    """The Events one cycle deserves."""
    return list(_decisions(result))


def _decisions(result: CycleResult) -> Iterator[Decision]:
    if result.error is not None:
        yield Decision(WARNING, result.reason, result.message)
        return
    plan = result.plan
    if plan is not None and plan.refused:
        yield Decision(WARNING, "MassDeleteRefused", plan.refused)
    if result.report is None:
        return
    other_failures = 0
    for outcome in result.report.outcomes:
        action = outcome.action
        rooms = ", ".join(sorted(action.rooms))
        if outcome.response is Response.DECLINE:
            comment = action.comment or (outcome.error or "")
            text = f'declined "{action.subject}" for {rooms}' + (f": {comment}" if comment else "")
            yield Decision(NORMAL, "RequestDeclined", text)
        if outcome.reason == "BookingRefused":
            yield Decision(WARNING, "BookingRefused", f'Planon refused "{action.subject}" ({rooms}): {outcome.error}')
        elif not outcome.ok:
            other_failures += 1
    if other_failures:
        yield Decision(WARNING, "ActionsFailed", result.message)
