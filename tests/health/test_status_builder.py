"""The status builder: kept failures (bounded, de-duplicated, counted), the dry-run plan, the Connection conditions."""

from __future__ import annotations

from datetime import timedelta

from roomsync.sync.status import MAX_FAILURES, ConnectionHealth, connection_status, merge_failures
from tests.helpers import NOW


def failure(subject: str, room: str = "MR-1", reason: str = "BookingRefused") -> dict[str, str]:
    return {"side": "Planon", "room": room, "subject": subject, "action": "create", "reason": reason, "message": "x"}


def test_the_same_failure_is_counted_not_repeated_and_keeps_when_it_was_first_seen() -> None:
    kept = merge_failures([], [failure("Budget pre-read")], NOW)
    later = NOW + timedelta(minutes=1)
    kept = merge_failures(kept, [failure("Budget pre-read"), failure("Budget pre-read")], later)
    (entry,) = kept
    assert entry["count"] == 2
    assert entry["firstSeen"] == "2026-03-02T07:00:00Z" and entry["lastSeen"] == "2026-03-02T07:01:00Z"


def test_failures_are_kept_across_cycles_newest_first_and_bounded() -> None:
    kept: list[dict[str, object]] = []
    for minute in range(MAX_FAILURES + 5):
        kept = merge_failures(kept, [failure(f"Meeting {minute}")], NOW + timedelta(minutes=minute))
    kept = merge_failures(kept, [], NOW + timedelta(hours=2))  # a quiet cycle forgets nothing
    assert len(kept) == MAX_FAILURES
    assert kept[0]["subject"] == f"Meeting {MAX_FAILURES + 4}" and kept[-1]["subject"] == "Meeting 5"


def test_another_room_or_reason_is_another_entry() -> None:
    kept = merge_failures([], [failure("A"), failure("A", room="MR-2"), failure("A", reason="BackendUnavailable")], NOW)
    assert len(kept) == 3


def test_connection_conditions_say_what_was_established() -> None:
    health = ConnectionHealth("graph", True, False, None, "AuthenticationFailed", "401 from the token endpoint")
    status = connection_status(None, health, NOW, 3)
    found = {c["type"]: (c["status"], c["reason"], c["observedGeneration"]) for c in status["conditions"]}
    assert found == {
        "Ready": ("False", "AuthenticationFailed", 3),
        "Reachable": ("True", "Ready", 3),
        "Authenticated": ("False", "AuthenticationFailed", 3),
        "RoomsVisible": ("Unknown", "Unknown", 3),
    }
    ok = connection_status(status, ConnectionHealth("graph", True, True, 12, "Ready", "12 rooms"), NOW, 3)
    assert ok["roomsVisible"] == 12 and ok["backend"] == "graph"
    ready = next(c for c in ok["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
