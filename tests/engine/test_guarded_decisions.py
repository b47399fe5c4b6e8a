"""Decisions that planted changes (mutation testing) showed no other test guards; each test fails without its rule."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from roomsync.connectors.memory import MemoryStore
from roomsync.engine import Action, ActionKind, Plan, Policy
from roomsync.model import Booking, Link, Side, Status
from roomsync.sync.apply import apply
from tests.helpers import Harness, booking


def room_with_linked(count: int, policy: Policy) -> Harness:
    h = Harness(policy=policy)
    for i in range(count):
        h.planon.put(booking(f"p{i}", 7 + i % 10, day=i // 10))
    h.cycle()
    assert len(h.calendar.live()) == count
    return h


def cancel_in_calendar(h: Harness, how_many: int) -> None:
    for c in sorted(h.calendar.live(), key=lambda b: b.start)[:how_many]:
        h.calendar.edit(c.id, lambda b: replace(b, status=Status.CANCELLED))


def test_mass_delete_guard_at_its_exact_boundary() -> None:
    # 25 % of 12 is 3: three cancels pass, four are refused
    at_limit = room_with_linked(12, Policy(max_delete_percent=25))
    cancel_in_calendar(at_limit, 3)
    assert at_limit.cycle().plan.refused is None  # type: ignore[union-attr]
    over = room_with_linked(12, Policy(max_delete_percent=25))
    cancel_in_calendar(over, 4)
    result = over.cycle()
    assert result.plan is not None and result.plan.refused is not None and result.plan.actions == ()
    assert "would cancel 4 of 12" in result.plan.refused


def test_mass_delete_floor_lets_two_go_but_not_three() -> None:
    two = room_with_linked(2, Policy(max_delete_percent=25))
    cancel_in_calendar(two, 2)
    assert two.cycle().plan.refused is None  # type: ignore[union-attr]
    three = room_with_linked(3, Policy(max_delete_percent=25))
    cancel_in_calendar(three, 3)
    assert three.cycle().plan.refused is not None  # type: ignore[union-attr]


def test_a_pending_request_already_in_sync_is_accepted_and_an_answered_one_is_not() -> None:
    h = Harness(policy=Policy(leader=Side.PLANON))
    h.planon.put(booking("p1"))
    h.cycle()
    [c] = h.calendar.live()
    # the room's copy shows up as still awaiting an answer (Exchange re-sent the request)
    h.calendar.edit(c.id, lambda b: replace(b, awaiting_response=True, status=Status.TENTATIVE))
    result = h.cycle()
    assert result.plan is not None
    assert [(a.kind, a.response) for a in result.plan.actions] == [(ActionKind.RESPOND, "accept")]
    assert h.calendar.responses[c.id][0][0].value == "accept"
    assert h.cycle().plan.empty  # type: ignore[union-attr]  # answered: no second accept


def test_following_planon_never_answers_a_pending_request_in_sync() -> None:
    h = Harness(policy=Policy(leader=Side.CALENDAR))
    h.planon.put(booking("p1"))
    h.cycle()
    [c] = h.calendar.live()
    h.calendar.edit(c.id, lambda b: replace(b, awaiting_response=True))
    assert h.cycle().plan.empty  # type: ignore[union-attr]
    assert h.calendar.responses == {}


def test_an_update_deciding_a_request_accepts_only_a_pending_one() -> None:
    h = Harness(policy=Policy(leader=Side.PLANON))
    h.calendar.put(booking("c1", awaiting_response=True, status=Status.TENTATIVE))
    h.cycle()
    assert [r for r, _ in h.calendar.responses["c1"]] == ["accept"]
    # the organizer moves the accepted meeting: Planon's write decides it again, but nothing is pending: no accept
    h.calendar.edit("c1", lambda b: replace(b, start=b.start.replace(hour=11), end=b.end.replace(hour=12)))
    result = h.cycle()
    assert result.report is not None and result.report.counters["updated"] == 1
    assert [r for r, _ in h.calendar.responses["c1"]] == ["accept"]


class SlowFirstWrite(MemoryStore):
    """A store whose updates take a while, so that actions run out of order if apply let them."""

    order: list[str]

    async def update(self, current: Booking, desired: Booking, fields: object) -> Booking:
        await asyncio.sleep(0.05)
        self.order.append(f"update {current.id}")
        return await super().update(current, desired, fields)  # type: ignore[arg-type]

    async def relink(self, current: Booking, link: object) -> None:
        self.order.append(f"relink {current.id}")
        await super().relink(current, link)  # type: ignore[arg-type]


def test_the_actions_on_one_meeting_run_in_plan_order_and_stop_at_a_failure() -> None:
    order: list[str] = []
    planon, calendar = SlowFirstWrite(Side.PLANON), SlowFirstWrite(Side.CALENDAR)
    planon.order = calendar.order = order
    p = planon.put(booking("p1", subject="Planon"))
    c = calendar.put(booking("c1", subject="Calendar"))
    update = Action(ActionKind.UPDATE, Side.CALENDAR, "test", p.rooms, target=c, desired=c.with_content_of(p), source=p)
    relink = Action(ActionKind.RELINK, Side.PLANON, "test", p.rooms, target=p, link=Link("c1", "fp"))
    stores = {Side.PLANON: planon, Side.CALENDAR: calendar}
    asyncio.run(apply(Plan((update, relink)), stores))
    assert order == ["update c1", "relink p1"]
    # the first write fails (the item changed after it was read): the second is not attempted
    order.clear()
    calendar.edit("c1", lambda b: replace(b, subject="A person's edit"))
    report = asyncio.run(apply(Plan((update, relink)), stores))
    assert order == ["update c1"]
    assert [o.reason for o in report.outcomes] == ["PreconditionFailed", "NotAttempted"]
    assert report.failed == report.outcomes[:1]


def test_a_refused_and_declined_write_is_not_counted_as_created() -> None:
    h = Harness(policy=Policy(leader=Side.PLANON))
    h.planon = MemoryStore(Side.PLANON, refuse_overlaps=True)
    h.planon.put(booking("p1"))
    h.calendar.put(booking("c1", minutes=30, awaiting_response=True, status=Status.TENTATIVE))
    result = h.cycle()
    assert result.report is not None
    counters = result.report.counters
    assert (counters["created"], counters["refused"], counters["declined"], counters["failed"]) == (1, 1, 1, 0)
    assert [b.id for b in h.planon.live()] == ["p1"]  # the one created is p1's calendar copy, not the request


def test_a_planon_booking_restored_from_the_calendar_is_backlinked_at_once() -> None:
    h = Harness(policy=Policy(leader=Side.CALENDAR))
    h.planon.put(booking("res-1"))
    h.cycle()
    [c] = h.calendar.live()
    del h.planon.bookings["res-1"]  # deleted in Planon (not cancelled) ...
    h.calendar.edit(c.id, lambda b: replace(b, subject="Changed in Outlook"))  # ... while changed in the calendar
    h.cycle()
    [restored] = h.planon.live()
    assert restored.id != "res-1" and restored.subject == "Changed in Outlook"
    link = h.calendar.bookings[c.id].link
    assert link is not None and link.peer_id == restored.id  # the calendar's link moved in the same cycle
    assert h.cycle().plan.empty  # type: ignore[union-attr]


def test_the_same_edit_on_both_sides_moves_the_baseline_so_a_later_planon_edit_is_kept() -> None:
    h = Harness(policy=Policy(leader=Side.CALENDAR))
    h.planon.put(booking("p1"))
    h.cycle()
    [c] = h.calendar.live()
    h.planon.edit("p1", lambda b: replace(b, subject="Agreed"))
    h.calendar.edit(c.id, lambda b: replace(b, subject="Agreed"))
    first = h.cycle()
    assert first.plan is not None and [a.kind for a in first.plan.actions] == [ActionKind.RELINK]
    h.planon.edit("p1", lambda b: replace(b, subject="Planon's later edit"))
    second = h.cycle()
    assert second.plan is not None and second.plan.conflicts == 0
    assert h.calendar.bookings[c.id].subject == "Planon's later edit"
