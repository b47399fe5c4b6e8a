"""How apply carries a plan out: what it hands the stores, what it counts, what it logs, and what it leaves out after a
failure. Plans are written by hand here, so every outcome (refused, declined, stale, broken) is met exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence

import pytest

from roomsync.connectors.base import BackendError, BackendUnavailable, BookingRefused, PreconditionFailed
from roomsync.connectors.memory import MemoryStore
from roomsync.engine import Action, ActionKind, Plan, RequestDecision
from roomsync.model import Booking, Link, Response, Side
from roomsync.sync.apply import ApplyReport, apply
from tests.helpers import booking


class ScriptedStore(MemoryStore):
    """A memory store that fails the writes named in ``failures`` (booking id -> error) and records what it got."""

    def __init__(self, side: Side) -> None:
        super().__init__(side)
        self.failures: dict[str, Exception] = {}
        self.received: list[tuple[str, str, object]] = []

    def _fail(self, booking_id: str) -> None:
        failure = self.failures.get(booking_id)
        if failure is not None:
            raise failure

    async def create(self, booking: Booking) -> Booking:
        self._fail(booking.link.peer_id if booking.link else booking.id)
        return await super().create(booking)

    async def update(self, current: Booking, desired: Booking, fields: Sequence[str]) -> Booking:
        self._fail(current.id)
        self.received.append(("update", current.id, tuple(fields)))
        return await super().update(current, desired, fields)

    async def cancel(self, current: Booking, reason: str) -> None:
        self._fail(current.id)
        self.received.append(("cancel", current.id, reason))
        await super().cancel(current, reason)

    async def respond(self, current: Booking, response: Response, comment: str) -> None:
        self._fail(current.id)
        await super().respond(current, response, comment)

    async def relink(self, current: Booking, link: Link) -> None:
        self._fail(current.id)
        await super().relink(current, link)


def stores() -> dict[Side, ScriptedStore]:
    return {Side.PLANON: ScriptedStore(Side.PLANON), Side.CALENDAR: ScriptedStore(Side.CALENDAR)}


def run(actions: list[Action], held: dict[Side, ScriptedStore]) -> ApplyReport:
    return asyncio.run(apply(Plan(tuple(actions)), held))


def update(store: ScriptedStore, booking_id: str, *, conflict: bool = False, fields: tuple[str, ...] = ()) -> Action:
    target = store.put(booking(booking_id, subject="Before"))
    desired = booking(booking_id, subject="After")
    rooms = target.rooms
    return Action(
        ActionKind.UPDATE, store.side, "test", rooms, target=target, desired=desired, fields=fields, conflict=conflict
    )


def create(side: Side, source_id: str, decides: RequestDecision | None = None) -> Action:
    source = booking(source_id)
    desired = booking(f"pending:{source_id}").with_link(Link(source_id, "fp"))
    return Action(ActionKind.CREATE, side, "test", source.rooms, desired=desired, source=source, decides=decides)


def test_every_outcome_is_counted_once_under_its_own_name() -> None:
    held = stores()
    planon, calendar = held[Side.PLANON], held[Side.CALENDAR]
    requests = [calendar.put(booking(f"request{i}", awaiting_response=True)) for i in (1, 2)]
    actions = [
        create(Side.CALENDAR, "p1"),
        create(Side.CALENDAR, "p2"),
        update(calendar, "c1", conflict=True),
        update(calendar, "c2", conflict=True),
        *(
            Action(ActionKind.CANCEL, Side.CALENDAR, "t", frozenset(), target=calendar.put(booking(i)))
            for i in ("c3", "c4")
        ),
        *(
            Action(ActionKind.RELINK, Side.PLANON, "t", frozenset(), target=planon.put(booking(i)), link=Link("x", "f"))
            for i in ("p5", "p6")
        ),
        *(
            Action(
                ActionKind.RESPOND,
                Side.CALENDAR,
                "t",
                frozenset(),
                target=calendar.put(booking(i)),
                response=Response.ACCEPT,
            )
            for i in ("r1", "r2")
        ),
        update(calendar, "broken1"),
        update(calendar, "broken2"),
        update(calendar, "stale1"),
        update(calendar, "stale2"),
        create(Side.PLANON, "refused1"),
        create(Side.PLANON, "refused2"),
        *(
            create(Side.PLANON, f"declined{i}", RequestDecision(requests[i - 1], decline_on_refusal=True))
            for i in (1, 2)
        ),
    ]
    for i in (1, 2):
        calendar.failures[f"broken{i}"] = BackendUnavailable("down")
        calendar.failures[f"stale{i}"] = PreconditionFailed("changed")
        for name in ("refused", "declined"):
            planon.failures[f"{name}{i}"] = BookingRefused("taken")
    report = run(actions, held)
    assert report.counters == Counter(
        created=2,
        updated=2,
        conflicts=2,
        cancelled=2,
        relinked=2,
        accepted=2,
        failed=4,  # the two broken writes and the two refusals nobody declined
        preconditionFailed=2,
        refused=4,
        declined=2,
    )
    assert [o.reason for o in report.stale] == ["PreconditionFailed"] * 2


def test_a_failed_write_is_logged_with_what_failed_and_why(caplog: pytest.LogCaptureFixture) -> None:
    held = stores()
    calendar = held[Side.CALENDAR]
    calendar.failures["c1"] = BackendUnavailable("the server is down")
    calendar.failures["c2"] = RuntimeError("a bug")
    with caplog.at_level(logging.WARNING, logger="roomsync.sync.apply"):
        report = run([update(calendar, "c1"), update(calendar, "c2")], held)
    down, bug = caplog.records
    assert down.getMessage() == 'update on Calendar: "After" (MR-1) - test failed: the server is down'
    assert down.levelno == logging.WARNING and down.exc_info is None
    assert bug.getMessage() == 'update on Calendar: "After" (MR-1) - test failed unexpectedly'
    assert bug.levelno == logging.ERROR and bug.exc_info is not None
    by_target = {o.action.target.id: o for o in report.outcomes if o.action.target is not None}
    assert (by_target["c1"].ok, by_target["c1"].error, by_target["c1"].reason) == (
        False,
        "the server is down",
        "BackendUnavailable",
    )
    assert (by_target["c2"].ok, by_target["c2"].error, by_target["c2"].reason) == (
        False,
        "RuntimeError: a bug",
        "InternalError",
    )


def test_an_answer_that_fails_fails_the_write_it_followed(caplog: pytest.LogCaptureFixture) -> None:
    held = stores()
    calendar = held[Side.CALENDAR]
    request = calendar.put(booking("request", subject="Board meeting", awaiting_response=True))
    calendar.failures["request"] = BackendUnavailable("mailbox busy")
    with caplog.at_level(logging.WARNING, logger="roomsync.sync.apply"):
        report = run([create(Side.PLANON, "request", RequestDecision(request, decline_on_refusal=False))], held)
    [outcome] = report.outcomes
    assert (outcome.ok, outcome.error, outcome.reason, outcome.response) == (
        False,
        "accept failed: mailbox busy",
        "BackendUnavailable",
        None,
    )
    [record] = caplog.records
    assert record.getMessage() == "answering 'Board meeting' with accept failed: mailbox busy"
    assert report.counters == Counter(failed=1)


def test_a_refusal_that_cannot_be_declined_is_a_failure() -> None:
    held = stores()
    planon, calendar = held[Side.PLANON], held[Side.CALENDAR]
    request = calendar.put(booking("request", awaiting_response=True))
    planon.failures["request"] = BookingRefused("room taken")
    calendar.failures["request"] = BackendUnavailable("mailbox busy")
    report = run([create(Side.PLANON, "request", RequestDecision(request, decline_on_refusal=True))], held)
    [outcome] = report.outcomes
    assert (outcome.ok, outcome.response, outcome.reason) == (False, None, "BackendUnavailable")
    assert report.counters == Counter(failed=1)


def test_a_failure_leaves_out_only_the_later_actions_of_its_own_meeting() -> None:
    held = stores()
    calendar = held[Side.CALENDAR]
    first, broken, later = update(calendar, "c1"), update(calendar, "c2"), update(calendar, "c3")
    other = update(calendar, "c4")
    # c1..c3 are one meeting (one Planon booking), c4 another
    meeting = booking("p1")
    first, broken, later = (
        Action(a.kind, a.side, a.reason, a.rooms, target=a.target, desired=a.desired, source=meeting)
        for a in (first, broken, later)
    )
    calendar.failures["c2"] = BackendUnavailable("down")
    report = run([first, broken, later, other], held)
    by_action = {id(o.action): o for o in report.outcomes}
    assert by_action[id(first)].ok and by_action[id(other)].ok
    assert by_action[id(broken)].reason == "BackendUnavailable"
    left_out = by_action[id(later)]
    assert (left_out.ok, left_out.reason, left_out.error) == (
        False,
        "NotAttempted",
        "not attempted: it depends on an earlier write that failed (update on Calendar)",
    )
    assert len(report.outcomes) == 4 and report.failed == [by_action[id(broken)]]


def test_a_meetings_calendar_writes_wait_for_its_planon_writes() -> None:
    held = stores()
    planon, calendar = held[Side.PLANON], held[Side.CALENDAR]
    # the re-booked meeting: Planon's link moves to the new copy, then the old copy (which links to p1) is cancelled
    relink = Action(
        ActionKind.RELINK, Side.PLANON, "t", frozenset(), target=planon.put(booking("p1")), link=Link("c2", "f")
    )
    old = calendar.put(booking("c1").with_link(Link("p1", "f")))
    cancel = Action(ActionKind.CANCEL, Side.CALENDAR, "superseded", old.rooms, target=old)
    planon.failures["p1"] = BackendUnavailable("down")
    report = run([relink, cancel], held)
    assert [o.reason for o in report.outcomes] == ["BackendUnavailable", "NotAttempted"]
    assert not calendar.bookings["c1"].cancelled


def test_apply_hands_the_store_the_fields_the_reason_and_the_comment_of_the_plan() -> None:
    held = stores()
    calendar = held[Side.CALENDAR]
    target = calendar.put(booking("c2"))
    run(
        [
            update(calendar, "c1", fields=("subject", "rooms")),
            Action(ActionKind.CANCEL, Side.CALENDAR, "cancelled in Planon", target.rooms, target=target),
            Action(
                ActionKind.RESPOND,
                Side.CALENDAR,
                "t",
                target.rooms,
                target=calendar.put(booking("c3")),
                response=Response.DECLINE,
                comment="Not in Planon",
            ),
        ],
        held,
    )
    assert calendar.received == [("update", "c1", ("subject", "rooms")), ("cancel", "c2", "cancelled in Planon")]
    assert calendar.responses["c3"] == [(Response.DECLINE, "Not in Planon")]


def test_a_backend_error_is_reported_with_its_own_reason() -> None:
    class Throttled(BackendError):
        reason = "Throttled"

    held = stores()
    calendar = held[Side.CALENDAR]
    calendar.failures["c1"] = Throttled("slow down")
    [outcome] = run([update(calendar, "c1")], held).outcomes
    assert (outcome.ok, outcome.reason, outcome.error) == (False, "Throttled", "slow down")
