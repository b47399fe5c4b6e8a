"""The RoomSync and Connection status, built the Kubernetes way from what a cycle or a check found.

Conditions follow the API conventions: ``Ready`` (the last cycle worked) and ``Synced`` (both sides agree), CamelCase
reasons, messages a person can act on, ``lastTransitionTime`` moved only when the status flips. Everything listed is
bounded so a RoomSync with 1000 rooms keeps a small status: rooms with an error or pending work come first;
``failures`` keeps the bookings that failed or were refused across cycles (newest first, one entry per booking, room
and reason, with a count), so a facility admin sees "Planon refused 'Budget pre-read': room taken" after the Event
has expired; a dry run lists its ``plannedActions``. A Connection gets ``Reachable``, ``Authenticated`` and
``RoomsVisible`` (True, False, or Unknown when not established) summed up in ``Ready``, as cert-manager's Issuer and
ESO's SecretStore report whether they can be used.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roomsync.engine import Action
from roomsync.sync.apply import NOT_ATTEMPTED
from roomsync.sync.cycle import CycleResult, RoomSummary

MAX_ROOMS_IN_STATUS = 50
MAX_FAILURES = 20
MAX_PLANNED = 50
#: The Ready reason of a RoomSync with a room another RoomSync claimed first.
ROOM_ALREADY_CLAIMED = "RoomAlreadyClaimed"
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
    status: bool | None,
    reason: str,
    message: str,
    now: datetime,
    generation: int,
) -> dict[str, Any]:
    """One condition; ``status`` None is ``Unknown``."""
    old = next((c for c in (previous or {}).get("conditions", []) if c.get("type") == type_), None)
    text = "Unknown" if status is None else "True" if status else "False"
    changed = old is None or old.get("status") != text
    return {
        "type": type_,
        "status": text,
        "reason": reason,
        "message": message[:1024],
        "lastTransitionTime": timestamp(now) if changed else old.get("lastTransitionTime", timestamp(now)),  # type: ignore[union-attr]
        "observedGeneration": generation,
    }


def mode_of(spec: Mapping[str, Any]) -> str:
    """What the operator does with a RoomSync, for the ``Mode`` column: Suspended, DryRun or Sync."""
    if spec.get("suspend") is True:
        return "Suspended"
    return "DryRun" if spec.get("dryRun") is True else "Sync"


def failure_status(
    previous: Mapping[str, Any] | None,
    reason: str,
    message: str,
    now: datetime,
    generation: int,
    mode: str | None = None,
) -> dict[str, Any]:
    """Status for a RoomSync that could not even start a cycle (missing Connection, bad Secret, suspended)."""
    status = dict(previous or {})
    status["observedGeneration"] = generation
    if mode is not None:
        status["mode"] = mode
    if mode != "DryRun":
        status.pop("plannedActions", None)
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
    *,
    refused_rooms: Sequence[tuple[str, str, str]] = (),
) -> dict[str, Any]:
    """``refused_rooms``: (planon code, calendar, message) of rooms left out because another RoomSync owns them."""
    plan = result.plan
    ready = result.error is None and not (plan is not None and plan.refused) and not refused_rooms
    if result.error is None and not (plan is not None and plan.refused) and refused_rooms:
        ready_reason, ready_message = ROOM_ALREADY_CLAIMED, _claimed_message(refused_rooms)
    else:
        ready_reason, ready_message = result.reason, result.message
    if not result.ok:
        synced, synced_reason, synced_message = False, result.reason, result.message
    elif result.dry_run and plan is not None and plan.actions:
        synced, synced_reason, synced_message = False, "DryRun", result.message
    else:
        synced, synced_reason, synced_message = True, "Synced", "both sides agree"
    counters = dict((previous or {}).get("counters", {}))
    for name in COUNTERS:
        counters[name] = int(counters.get(name, 0)) + int(result.counters.get(name, 0))
    summaries = [*result.rooms, *(RoomSummary(p, c, last_error=m) for p, c, m in refused_rooms)]
    rooms = sorted(summaries, key=lambda r: (r.last_error is None, r.pending == 0, r.planon))
    status: dict[str, Any] = {
        **dict(previous or {}),
        "observedGeneration": generation,
        "mode": "DryRun" if result.dry_run else "Sync",
        "conditions": [
            condition(
                previous,
                "Ready",
                ready,
                "Synced" if ready else ready_reason,
                "last cycle completed" if ready else ready_message,
                now,
                generation,
            ),
            condition(previous, "Synced", synced, synced_reason, synced_message, now, generation),
        ],
        "lastSyncTime": timestamp(now),
        "roomCount": len(summaries),
        "rooms": [_room(r) for r in rooms[:MAX_ROOMS_IN_STATUS]],
        "counters": counters,
        "lastCycle": {
            "full": result.full,
            "durationSeconds": round(result.duration, 3),
            "planned": 0 if plan is None else len(plan.actions),
            "failed": len(result.report.failed) if result.report else 0,
        },
    }
    failures = merge_failures((previous or {}).get("failures") or [], list(failures_of(result)), now)
    if failures:
        status["failures"] = failures
    if result.dry_run and plan is not None:
        status["plannedActions"] = [_planned(a) for a in plan.actions[:MAX_PLANNED]]
    else:
        status.pop("plannedActions", None)
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


def _claimed_message(refused: Sequence[tuple[str, str, str]]) -> str:
    first = refused[0][2]
    more = f" (and {len(refused) - 1} more room(s) claimed by other RoomSyncs)" if len(refused) > 1 else ""
    return f"{first}{more}; the other rooms are synced"


def _start(action: Action) -> str | None:
    booking = action.desired or action.target
    return timestamp(booking.start) if booking is not None else None


def _planned(action: Action) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "side": action.side.value,
        "action": action.kind.value,
        "room": ", ".join(sorted(action.rooms))[:512],
        "subject": action.subject[:256],
        "reason": action.reason[:256],
    }
    start = _start(action)
    if start is not None:
        entry["start"] = start
    return entry


def failures_of(result: CycleResult) -> Iterator[dict[str, Any]]:
    """One entry per booking, room and reason that failed, was refused or skipped in this cycle."""
    for outcome in result.report.outcomes if result.report else ():
        if outcome.ok or outcome.reason in (NOT_ATTEMPTED, "PreconditionFailed"):
            continue  # left out behind an earlier failure, or re-planned: not failures of their own
        action = outcome.action
        for room in sorted(action.rooms):
            entry: dict[str, Any] = {
                "side": action.side.value,
                "room": room[:100],
                "subject": action.subject[:256],
                "action": action.kind.value,
                "reason": (outcome.reason or "Failed")[:64],
                "message": (outcome.error or "")[:512],
            }
            start = _start(action)
            if start is not None:
                entry["start"] = start
            yield entry
    for side, snapshot in result.snapshots.items():
        for item in snapshot.skipped:
            yield {
                "side": side.value,
                "room": item.room[:100],
                "subject": f"item {item.native_id}"[:256],
                "action": "read",
                "reason": "Skipped",
                "message": item.reason[:512],
            }


def _failure_key(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(entry.get(k) for k in ("side", "room", "subject", "start", "action", "reason"))


def merge_failures(
    kept: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """This cycle's failures on top of the kept ones: the same booking, room and reason counted, not repeated;
    newest first; at most :data:`MAX_FAILURES`."""
    seen = timestamp(now)
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for entry in new:
        key = _failure_key(entry)
        if key in merged:
            continue  # the same booking twice in one cycle (a re-plan) is one occurrence
        old = next((k for k in kept if _failure_key(k) == key), None)
        merged[key] = {
            **entry,
            "firstSeen": old.get("firstSeen", seen) if old else seen,
            "lastSeen": seen,
            "count": int(old.get("count", 1)) + 1 if old else 1,
        }
    for entry in kept:
        merged.setdefault(_failure_key(entry), dict(entry))
    ordered = sorted(merged.values(), key=lambda e: str(e.get("lastSeen", "")), reverse=True)
    return ordered[:MAX_FAILURES]


@dataclass(frozen=True)
class ConnectionHealth:
    """What a check (or a RoomSync's cycle) established about a Connection; None means not established."""

    backend: str | None
    reachable: bool | None
    authenticated: bool | None
    rooms: int | None
    reason: str
    message: str


def connection_status(
    previous: Mapping[str, Any] | None, health: ConnectionHealth, now: datetime, generation: int
) -> dict[str, Any]:
    """A Connection's status: Reachable, Authenticated, RoomsVisible and Ready (all three that could be known)."""
    ready = health.reason == "Ready"

    def said(value: bool | None, good: str, bad: str, unknown: str) -> tuple[str, str]:
        if value is None:
            return "Unknown", unknown
        return ("Ready", good) if value else (health.reason, bad)

    def cond(type_: str, value: bool | None, texts: tuple[str, str]) -> dict[str, Any]:
        return condition(previous, type_, value, texts[0], texts[1], now, generation)

    rooms = health.rooms
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "lastCheckTime": timestamp(now),
        "conditions": [
            condition(previous, "Ready", ready, health.reason, health.message, now, generation),
            cond(
                "Reachable",
                health.reachable,
                said(
                    health.reachable, "the backend answered", health.message, "not established yet: " + health.message
                ),
            ),
            cond(
                "Authenticated",
                health.authenticated,
                said(
                    health.authenticated,
                    "the credentials were accepted",
                    health.message,
                    "not established yet: " + health.message,
                ),
            ),
            cond(
                "RoomsVisible",
                None if rooms is None else rooms > 0,
                said(
                    None if rooms is None else rooms > 0,
                    f"{rooms} room(s) visible to these credentials",
                    "the credentials see no rooms: check the permissions of the account or app",
                    "room discovery not checked: " + health.message,
                ),
            ),
        ],
    }
    if health.backend is not None:
        status["backend"] = health.backend
    if rooms is not None:
        status["roomsVisible"] = rooms
    return status
