"""The RoomSync status, built the Kubernetes way from a cycle result.

Conditions follow the API conventions: ``Ready`` (the last cycle worked) and ``Synced`` (both sides agree), CamelCase
reasons, messages a person can act on, ``lastTransitionTime`` moved only when the status flips. The per-room list is
bounded so a RoomSync with 500 rooms keeps a small status: rooms with an error or pending work come first.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from roomsync.sync.cycle import CycleResult, RoomSummary

MAX_ROOMS_IN_STATUS = 50
COUNTERS = (
    "created",
    "updated",
    "cancelled",
    "accepted",
    "declined",
    "conflicts",
    "refused",
    "skipped",
    "preconditionFailed",
)


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(
    previous: Mapping[str, Any] | None,
    type_: str,
    status: bool,
    reason: str,
    message: str,
    now: datetime,
    generation: int,
) -> dict[str, Any]:
    old = next((c for c in (previous or {}).get("conditions", []) if c.get("type") == type_), None)
    text = "True" if status else "False"
    changed = old is None or old.get("status") != text
    return {
        "type": type_,
        "status": text,
        "reason": reason,
        "message": message[:1024],
        "lastTransitionTime": timestamp(now) if changed else old.get("lastTransitionTime", timestamp(now)),  # type: ignore[union-attr]
        "observedGeneration": generation,
    }


def failure_status(
    previous: Mapping[str, Any] | None, reason: str, message: str, now: datetime, generation: int
) -> dict[str, Any]:
    """Status for a RoomSync that could not even start a cycle (missing Connection, bad Secret, suspended)."""
    status = dict(previous or {})
    status["observedGeneration"] = generation
    ready = reason == "Suspended"
    status["conditions"] = [
        condition(previous, "Ready", False, reason, message, now, generation),
        condition(previous, "Synced", ready and _synced(previous), reason, message, now, generation),
    ]
    return status


def _synced(previous: Mapping[str, Any] | None) -> bool:
    return any(c.get("type") == "Synced" and c.get("status") == "True" for c in (previous or {}).get("conditions", []))


def cycle_status(
    previous: Mapping[str, Any] | None,
    result: CycleResult,
    now: datetime,
    generation: int,
    requested_at: str | None = None,
) -> dict[str, Any]:
    plan = result.plan
    ready = result.error is None and not (plan is not None and plan.refused)
    if not result.ok:
        synced, synced_reason, synced_message = False, result.reason, result.message
    elif result.dry_run and plan is not None and plan.actions:
        synced, synced_reason, synced_message = False, "DryRun", result.message
    else:
        synced, synced_reason, synced_message = True, "Synced", "both sides agree"
    counters = dict((previous or {}).get("counters", {}))
    for name in COUNTERS:
        counters[name] = int(counters.get(name, 0)) + int(result.counters.get(name, 0))
    rooms = sorted(result.rooms, key=lambda r: (r.last_error is None, r.pending == 0, r.planon))
    status: dict[str, Any] = {
        **dict(previous or {}),
        "observedGeneration": generation,
        "conditions": [
            condition(
                previous,
                "Ready",
                ready,
                "Synced" if ready else result.reason,
                "last cycle completed" if ready else result.message,
                now,
                generation,
            ),
            condition(previous, "Synced", synced, synced_reason, synced_message, now, generation),
        ],
        "lastSyncTime": timestamp(now),
        "roomCount": len(result.rooms),
        "rooms": [_room(r) for r in rooms[:MAX_ROOMS_IN_STATUS]],
        "counters": counters,
        "lastCycle": {
            "full": result.full,
            "durationSeconds": round(result.duration, 3),
            "planned": 0 if plan is None else len(plan.actions),
            "failed": len(result.report.failed) if result.report else 0,
        },
    }
    if result.full and result.error is None:
        status["lastFullSyncTime"] = timestamp(now)
    if requested_at is not None:
        status["lastHandledRequestedAt"] = requested_at
    return status


def _room(summary: RoomSummary) -> dict[str, Any]:
    room: dict[str, Any] = {
        "planon": summary.planon,
        "calendar": summary.calendar,
        "bookings": summary.bookings,
        "pending": summary.pending,
    }
    if summary.last_error:
        room["lastError"] = summary.last_error[:512]
    return room
