"""The fault matrix: what the emulators can do wrong, and what RoomSync must do about it.

Every case runs the operator's cycle against the rig with two changes pending (a new Planon booking, a new Outlook
meeting), injects one fault, runs a cycle, and checks: nothing that existed before is gone (no delete caused by a
failed or partial read), nothing is doubled, the cycle's reason (the status condition) and message say what is
wrong; then the fault is cleared and the next cycles must converge with both changes synced exactly once.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from roomsync.sandbox.building import at, person
from roomsync.sync.cycle import CycleResult
from tests.reliability.rig import FOLLOW, Canonical
from tests.reliability.scenario import TZ
from tests.reliability.world import World, world

ROOM_A, ROOM_B = FOLLOW
RESERVATIONS = "UsrReservationMeetingRoom"
FOLLOWS = "amsterdam-follows"


@dataclass
class Outcome:
    during: list[CycleResult]
    statuses: dict[str, dict[str, Any]]  # the RoomSyncs' status right after the faulty cycle
    after: Canonical  # both sides right after the faulty cycle
    pending: tuple[str, str]  # subjects of the new Planon booking (room A) and the new Outlook meeting (room B)
    seconds: float
    cycles_to_converge: int

    def condition(self, kind: str, name: str = FOLLOWS) -> dict[str, Any]:
        return next(c for c in self.statuses[name]["conditions"] if c["type"] == kind)

    def follows(self) -> CycleResult:
        return next(r for r in self.during if r.name.endswith(FOLLOWS))


async def through(
    w: World, inject: Callable[[], Awaitable[Any]], *, clear: Callable[[], Awaitable[Any]] | None = None
) -> Outcome:
    """Pending changes, the fault, one cycle, the checks, the fault cleared, convergence and the final checks."""
    tag = uuid.uuid4().hex[:6]
    planon_subject, outlook_subject = f"Kiosk {tag}", f"Outlook {tag}"
    await w.rig.planon.admin.book(ROOM_A.code, at(w.day, 17), at(w.day, 18), planon_subject, requestor=person("anna"))
    await w.rig.graph.admin.book_in_outlook(
        person("ben"), [ROOM_B.mailbox], outlook_subject, at(w.day, 17), at(w.day, 18), time_zone=TZ
    )
    before = w.state()
    await inject()
    started = time.monotonic()
    during = await w.cycle()
    seconds = time.monotonic() - started
    statuses = copy.deepcopy(w.statuses)
    after = w.state()
    assert not (before.planon - after.planon), f"deleted in Planon: {before.planon - after.planon}"
    assert not (before.calendar - after.calendar), f"deleted in the calendar: {before.calendar - after.calendar}"
    assert not after.duplicates(), after.duplicates()
    await w.clear_faults()
    if clear is not None:
        await clear()
    cycles = await w.converge()
    assert cycles <= 3, [(r.reason, r.message) for r in await w.cycle()]
    final = w.state()
    assert not final.duplicates(), final.duplicates()
    assert not (before.planon - final.planon) and not (before.calendar - final.calendar)
    for subject in (planon_subject, outlook_subject):
        assert sum(1 for k in final.planon if k[-1] == subject) == 1, (subject, final.planon)
        assert sum(1 for k in final.calendar if k[-1] == subject) == 1, (subject, final.calendar)
    return Outcome(during, statuses, after, (planon_subject, outlook_subject), seconds, cycles)


def assert_reported(outcome: Outcome, reason: str, *words: str) -> CycleResult:
    """Some RoomSync's cycle has ``reason``, its message names the problem, and the status condition shows it."""
    result = next((r for r in outcome.during if r.reason == reason), None)
    assert result is not None, [(r.name, r.reason, r.message) for r in outcome.during]
    for word in words:
        assert word.casefold() in result.message.casefold(), (word, result.message)
    return result


@pytest.fixture
async def w(tmp_path: Path) -> Iterator[World]:  # type: ignore[misc]
    async with world(tmp_path, planon_extra={"requestTimeoutSeconds": 1, "readAttempts": 2}) as here:
        yield here


# -- Microsoft Graph ---------------------------------------------------------------------------------------------------
async def test_graph_429_with_integer_retry_after_is_waited_out(w: World) -> None:
    outcome = await through(w, lambda: w.rig.graph.admin.inject(429, count=1, retry_after="1", method="GET"))
    assert all(r.ok for r in outcome.during) and outcome.seconds >= 1.0
    statuses = [e["status"] for e in w.rig.graph.state.traffic.log]
    assert 429 in statuses


async def test_graph_429_storm_with_fractional_retry_after_is_reported_not_deleted(w: World) -> None:
    outcome = await through(
        w, lambda: w.rig.graph.admin.inject(429, count=200, retry_after="0.05", mailbox=ROOM_A.mailbox)
    )
    # the pending create into the throttled room fails (ActionsFailed); the room itself is unreadable (PartialRead)
    result = outcome.follows()
    assert result.reason in ("ActionsFailed", "PartialRead") and "AMS-1.01" in result.message, result.message
    assert outcome.condition("Synced")["reason"] == result.reason
    room = next(r for r in result.rooms if r.planon == ROOM_A.code)
    assert room.last_error is not None


@pytest.mark.parametrize("status", [503, 504])
async def test_graph_transient_5xx_is_retried(w: World, status: int) -> None:
    outcome = await through(w, lambda: w.rig.graph.admin.inject(status, count=2, method="GET"))
    assert all(r.ok for r in outcome.during), [(r.reason, r.message) for r in outcome.during]


async def test_graph_persistent_503_makes_the_room_unreadable(w: World) -> None:
    outcome = await through(
        w, lambda: w.rig.graph.admin.inject(503, count=200, retry_after="0.05", mailbox=ROOM_B.mailbox)
    )
    assert_reported(outcome, "PartialRead", "AMS-1.02")


async def test_graph_connection_resets_are_retried(w: World) -> None:
    outcome = await through(w, lambda: w.rig.graph.admin.inject(reset=True, count=2, method="GET"))
    assert all(r.ok for r in outcome.during), [(r.reason, r.message) for r in outcome.during]


async def test_graph_malformed_json_page(w: World) -> None:
    outcome = await through(
        w, lambda: w.rig.graph.admin.inject(malformed=True, status=200, count=1, mailbox=ROOM_A.mailbox, method="GET")
    )
    result = outcome.follows()
    # Nothing written, nothing deleted; the room counts as unreadable, or the read fails as InvalidResponse.
    assert result.reason in ("PartialRead", "InvalidResponse"), (result.reason, result.message)
    assert "Calendar" in result.message


async def test_graph_token_expiring_mid_cycle(w: World) -> None:
    def expire_on_first_write(backend: str, request: web.Request) -> None:
        if backend == "graph" and request.method in ("POST", "PATCH") and request.path.startswith("/v1.0/"):
            w.rig.graph.state.identity.expire_tokens()
            w.rig.gate.before = None

    async def inject() -> None:
        w.rig.gate.before = expire_on_first_write

    issued = w.rig.graph.state.identity.issued
    outcome = await through(w, inject)
    assert all(r.ok for r in outcome.during), [(r.reason, r.message) for r in outcome.during]
    assert w.rig.graph.state.identity.issued > issued  # a fresh token was fetched in the middle of the cycle


async def test_graph_revoked_credentials(w: World) -> None:
    graph = w.rig.graph
    outcome = await through(
        w,
        graph.admin.revoke_credentials,
        clear=lambda: graph.admin.register_app(graph.client_id, secret=w.rig.credentials.graph_client_secret),
    )
    result = assert_reported(outcome, "AuthenticationFailed", "Calendar")
    assert result.plan is None and result.report is None  # nothing was planned, so nothing written
    assert outcome.condition("Ready")["status"] == "False"


async def test_graph_expired_delta_token_means_a_full_read_not_deletes(w: World) -> None:
    outcome = await through(w, w.rig.graph.admin.expire_delta_tokens)
    assert all(r.ok for r in outcome.during), [(r.reason, r.message) for r in outcome.during]


# -- Planon ----------------------------------------------------------------------------------------------------------
async def test_planon_500_during_a_read_is_retried(w: World) -> None:
    outcome = await through(w, lambda: w.rig.planon.admin.fault("status", "read", status=500, definition=RESERVATIONS))
    assert all(r.ok for r in outcome.during), [(r.reason, r.message) for r in outcome.during]


async def test_planon_persistent_500_during_a_read(w: World) -> None:
    outcome = await through(
        w, lambda: w.rig.planon.admin.fault("status", "read", status=500, definition=RESERVATIONS, times=20)
    )
    result = assert_reported(outcome, "BackendUnavailable", "Planon", "500")
    assert result.plan is None


async def test_planon_slower_than_the_client_timeout(w: World) -> None:
    outcome = await through(
        w, lambda: w.rig.planon.admin.fault("slow", "read", delay=1.5, definition=RESERVATIONS, times=20)
    )
    assert_reported(outcome, "BackendUnavailable", "Planon", "timed out")


async def test_planon_connection_resets(w: World) -> None:
    outcome = await through(w, lambda: w.rig.planon.admin.fault("reset", "read", definition=RESERVATIONS, times=20))
    assert_reported(outcome, "BackendUnavailable", "Planon", "cannot be reached")


@pytest.mark.parametrize("kind", ["truncated", "malformed"])
async def test_planon_truncated_or_malformed_json(w: World, kind: str) -> None:
    outcome = await through(w, lambda: w.rig.planon.admin.fault(kind, "read", definition=RESERVATIONS, times=20))
    assert_reported(outcome, "InvalidResponse", "Planon", "JSON")


async def test_planon_10_mb_body(w: World) -> None:
    outcome = await through(w, lambda: w.rig.planon.admin.fault("oversized", "read", definition=RESERVATIONS))
    assert all(r.ok for r in outcome.during), [(r.reason, r.message) for r in outcome.during]


async def _standup(w: World) -> int:
    found = [r for r in await w.rig.planon.admin.reservations(ROOM_A.code) if r["description"] == "Standup"]
    assert len(found) == 1
    return int(found[0]["syscode"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("BeginDateTime", 12345),  # a field of the wrong type
        ("Description", {"text": "not a string"}),
        ("EndDateTime", {"date": "0001-01-01", "time": "00:00:00"}),  # absurd: ends 2,000 years before it starts
        ("BeginDateTime", {"date": "9999-12-31", "time": "23:59:59"}),
    ],
)
async def test_one_bad_planon_booking_is_skipped_and_the_rest_of_the_room_syncs(
    w: World, field: str, value: object
) -> None:
    syscode = await _standup(w)
    outcome = await through(w, lambda: w.rig.planon.admin.corrupt(syscode, field, value), clear=_uncorrupt(w, syscode))
    result = assert_reported(outcome, "ItemsSkipped", "skipped", str(syscode))
    assert result.counters["skipped"] >= 1
    room = next(r for r in result.rooms if r.planon == ROOM_A.code)
    assert room.last_error is not None and str(syscode) in room.last_error
    assert outcome.condition("Synced")["reason"] == "ItemsSkipped"
    # the calendar copy of the unreadable booking is kept: an unreadable item is never a deleted one ...
    assert any(k[-1] == "Standup" for k in outcome.after.calendar)
    # ... and the rest of the room synced in the same cycle: the new booking in that room reached the calendar
    assert any(k[0] == ROOM_A.mailbox and k[-1] == outcome.pending[0] for k in outcome.after.calendar)


def _uncorrupt(w: World, syscode: int) -> Callable[[], Awaitable[None]]:
    async def clear() -> None:
        w.rig.planon.state.reservations[syscode].corrupt.clear()

    return clear
