"""Readable examples of the decision table (docs/architecture.md), through the real cycle on memory stores."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from roomsync.engine import ActionKind, Direction, OnRefused, Policy
from roomsync.model import Side, Status
from tests.helpers import Harness, booking


def test_booking_made_in_planon_is_created_in_the_calendar_with_its_identity_and_a_backlink() -> None:
    h = Harness()
    h.planon.put(booking("p1", subject="Budget review", required=("bob@contoso.com",)))
    result = h.cycle()
    assert result.ok and result.report is not None
    [created] = h.calendar.live()
    assert created.subject == "Budget review"
    assert created.link is not None and created.link.peer_id == "p1"
    assert h.planon.bookings["p1"].link is not None and h.planon.bookings["p1"].link.peer_id == created.id
    assert h.content(Side.PLANON) == h.content(Side.CALENDAR)
    assert h.cycle().plan.empty  # type: ignore[union-attr]


def test_an_edit_propagates_with_exactly_one_write_and_no_echo() -> None:
    h = Harness()
    h.planon.put(booking("p1"))
    h.cycle()
    before = h.writes()
    h.planon.edit(
        "p1", lambda b: replace(b, subject="Moved", start=b.start + timedelta(hours=1), end=b.end + timedelta(hours=1))
    )
    h.cycle()
    assert h.writes() == before + 1
    assert [b.subject for b in h.calendar.live()] == ["Moved"]
    assert h.cycle().plan.empty  # type: ignore[union-attr]


def test_calendar_edit_flows_to_planon() -> None:
    h = Harness()
    h.planon.put(booking("p1"))
    h.cycle()
    [c] = h.calendar.live()
    h.calendar.edit(
        c.id, lambda b: replace(b, optional=b.optional | {__import__("roomsync.model").model.Person("eve@contoso.com")})
    )
    h.cycle()
    assert {p.email for p in h.planon.bookings["p1"].optional} == {"eve@contoso.com"}
    assert h.cycle().plan.empty  # type: ignore[union-attr]


def test_conflict_is_won_by_the_leader_and_does_not_ping_pong() -> None:
    for leader in (Side.PLANON, Side.CALENDAR):
        h = Harness(policy=Policy(leader=leader))
        h.planon.put(booking("p1"))
        h.cycle()
        [c] = h.calendar.live()
        h.planon.edit("p1", lambda b: replace(b, subject="Planon version"))
        h.calendar.edit(c.id, lambda b: replace(b, subject="Calendar version"))
        result = h.cycle()
        assert result.plan is not None and result.plan.conflicts == 1
        expected = "Planon version" if leader is Side.PLANON else "Calendar version"
        assert h.planon.bookings["p1"].subject == expected
        assert h.calendar.bookings[c.id].subject == expected
        writes = h.writes()
        for _ in range(3):
            assert h.cycle().plan.empty  # type: ignore[union-attr]
        assert h.writes() == writes


def test_cancel_in_planon_cancels_the_calendar_copy() -> None:
    h = Harness()
    h.planon.put(booking("p1"))
    h.cycle()
    h.planon.edit("p1", lambda b: replace(b, status=Status.CANCELLED))
    h.cycle()
    assert h.calendar.live() == []


def test_delete_in_calendar_cancels_planon_but_an_edit_in_the_leader_wins() -> None:
    h = Harness()
    h.planon.put(booking("p1"))
    h.planon.put(booking("p2", 11))
    h.cycle()
    for c in list(h.calendar.live()):
        del h.calendar.bookings[c.id]  # a person deletes both in Outlook
    h.planon.edit("p2", lambda b: replace(b, subject="changed meanwhile"))  # and Planon (the leader) edits one
    result = h.cycle()
    assert h.planon.bookings["p1"].cancelled
    assert not h.planon.bookings["p2"].cancelled
    assert [b.subject for b in h.calendar.live()] == ["changed meanwhile"]  # recreated: the leader decided
    assert result.plan is not None and result.plan.conflicts == 1


def test_meeting_request_in_the_lead_is_registered_then_accepted() -> None:
    h = Harness(policy=Policy(leader=Side.PLANON))
    h.calendar.put(booking("c1", awaiting_response=True, status=Status.TENTATIVE))
    result = h.cycle()
    assert result.report is not None and result.report.counters["accepted"] == 1
    [p] = h.planon.live()
    assert p.link is not None and p.link.peer_id == "c1"
    assert h.calendar.responses["c1"][0][0].value == "accept"
    assert h.planon.log.count() == 1 and h.calendar.log.count() == 1  # one Planon write plus one accept
    assert h.cycle().plan.empty  # type: ignore[union-attr]


def test_refused_request_in_the_lead_is_declined_with_the_reason_and_leaves_nothing() -> None:
    h = Harness(policy=Policy(leader=Side.PLANON))
    h.planon = type(h.planon)(Side.PLANON, refuse_overlaps=True)
    h.planon.put(booking("p1"))
    h.calendar.put(booking("c1", minutes=30, awaiting_response=True, status=Status.TENTATIVE))  # overlaps p1
    h.cycle()
    response, comment = h.calendar.responses["c1"][0]
    assert response.value == "decline" and "already reserved" in comment
    assert [b.id for b in h.planon.live()] == ["p1"]


def test_follows_refusal_is_reported_not_declined_unless_asked() -> None:
    for on_refused, declined in ((OnRefused.REPORT, False), (OnRefused.DECLINE, True)):
        h = Harness(policy=Policy(leader=Side.CALENDAR, on_refused=on_refused))
        h.planon = type(h.planon)(Side.PLANON, refuse_overlaps=True)
        h.planon.put(booking("p1"))
        h.calendar.put(booking("c1", minutes=30))
        result = h.cycle()
        assert ("c1" in h.calendar.responses) is declined
        assert result.counters["refused"] == 1 and result.counters["declined"] == int(declined)
        if declined:  # the decline is the decision: the cycle did what it should
            assert result.reason == "Synced"
        else:  # reported, never a silent divergence
            assert result.reason == "ActionsFailed" and "already reserved" in result.message


def test_pre_existing_identical_bookings_are_adopted_not_duplicated() -> None:
    h = Harness()
    h.planon.put(booking("p1", subject="Same"))
    h.calendar.put(booking("c1", subject="Same"))
    result = h.cycle()
    assert result.plan is not None and [a.kind for a in result.plan.actions] == [ActionKind.RELINK]
    assert len(h.calendar.live()) == 1 and len(h.planon.live()) == 1
    assert h.cycle().plan.empty  # type: ignore[union-attr]


def test_failed_read_plans_nothing_and_partial_read_deletes_nothing() -> None:
    h = Harness()
    h.planon.put(booking("p1"))
    h.planon.put(booking("p2", rooms=("MR-2",)))
    h.cycle()
    h.calendar.fail_read = True
    failed = h.cycle()
    assert failed.reason == "BackendUnavailable" and failed.plan is None
    h.calendar.fail_read = False
    h.calendar.bookings.clear()  # the calendar now returns nothing for MR-1 and cannot read MR-2
    h.calendar.unreadable_rooms = frozenset({"MR-1", "MR-2"})
    h.cycle()
    assert len(h.planon.live()) == 2


def test_mass_delete_is_refused_as_a_whole_until_allowed() -> None:
    h = Harness()
    for i in range(8):
        h.planon.put(booking(f"p{i}", 8 + i))
    h.cycle()
    h.calendar.bookings.clear()  # a misconfigured calendar suddenly returns nothing
    refused = h.cycle()
    assert refused.reason == "MassDeleteRefused" and "8 of 8" in refused.message
    assert len(h.planon.live()) == 8
    h.policy = replace(h.policy, allow_mass_delete=True)
    h.cycle()
    assert h.planon.live() == []


def test_one_way_sync_mirrors_and_leaves_unlinked_target_items_alone() -> None:
    h = Harness(policy=Policy(direction=Direction.PLANON_TO_CALENDAR))
    h.planon.put(booking("p1"))
    h.calendar.put(booking("c-own", 14))
    h.cycle()
    [mirror] = [b for b in h.calendar.live() if b.id != "c-own"]
    h.calendar.edit(mirror.id, lambda b: replace(b, subject="edited in the mirror"))
    h.cycle()
    assert h.calendar.bookings[mirror.id].subject == "Meeting"  # the source wins
    assert h.planon.log.count() == 0  # the source is never written
    assert "c-own" in h.calendar.bookings and not h.calendar.bookings["c-own"].cancelled


def test_meeting_moved_out_of_the_window_is_looked_up_not_deleted() -> None:
    h = Harness()
    h.planon.put(booking("p1"))
    h.cycle()
    [c] = h.calendar.live()
    h.calendar.edit(c.id, lambda b: replace(b, start=b.start + timedelta(days=400), end=b.end + timedelta(days=400)))
    h.cycle()
    assert not h.planon.bookings["p1"].cancelled
    assert h.planon.bookings["p1"].start == h.calendar.bookings[c.id].start


def test_dry_run_writes_nothing() -> None:
    h = Harness()
    h.planon.put(booking("p1"))
    result = h.cycle(dry_run=True)
    assert result.plan is not None and len(result.plan.actions) == 1 and h.writes() == 0


def test_when_both_sides_fail_to_read_both_are_reported() -> None:
    h = Harness()
    h.planon.fail_read = h.calendar.fail_read = True
    result = h.cycle()
    assert result.reason == "BackendUnavailable" and result.error_side is None
    assert result.message.startswith("Planon: ") and "; Calendar: " in result.message
