"""A person's edit that lands between RoomSync's read and its write, edits on both sides, and re-booked meetings.

The memory store versions every booking like an etag and refuses a write planned on an older version; the cycle
then reads and plans again. Field digests in the link let edits to different fields on both sides both survive.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from roomsync.connectors.memory.store import InjectedCrash
from roomsync.engine import ActionKind, Policy
from roomsync.model import FieldLimits, Person, Side, people
from tests.helpers import Harness, booking


def synced(policy: Policy | None = None, **stores: object) -> tuple[Harness, str]:
    h = Harness(policy=policy or Policy())
    for name, store in stores.items():
        setattr(h, name, store)
    h.planon.put(booking("p1", subject="Budget review", required=("bob@contoso.com",)))
    h.cycle()
    [c] = h.calendar.live()
    return h, c.id


@pytest.mark.parametrize("leader", [Side.PLANON, Side.CALENDAR])
def test_an_edit_between_read_and_write_is_not_overwritten_and_both_edits_survive(leader: Side) -> None:
    h, c = synced(Policy(leader=leader))
    h.planon.edit("p1", lambda b: replace(b, subject="Budget review (moved)"))
    # RoomSync reads, plans "update the calendar's subject"; just before it writes, a person adds an attendee there
    h.calendar.before_write = lambda: h.calendar.edit(
        c, lambda b: replace(b, required=b.required | {Person("eve@contoso.com")})
    )
    result = h.cycle()
    assert result.report is not None and result.report.counters["preconditionFailed"] == 1
    assert result.report.failed == []  # re-read and re-planned in the same cycle
    for side in (Side.PLANON, Side.CALENDAR):
        [held] = (h.planon if side is Side.PLANON else h.calendar).live()
        assert held.subject == "Budget review (moved)"
        assert {p.email for p in held.required} == {"bob@contoso.com", "eve@contoso.com"}
    assert h.cycle().plan.empty  # type: ignore[union-attr]


@pytest.mark.parametrize("leader", [Side.PLANON, Side.CALENDAR])
def test_the_same_field_edited_between_read_and_write_ends_with_the_leader(leader: Side) -> None:
    h, c = synced(Policy(leader=leader))
    h.planon.edit("p1", lambda b: replace(b, subject="Planon's subject"))
    h.calendar.before_write = lambda: h.calendar.edit(c, lambda b: replace(b, subject="Outlook's subject"))
    result = h.cycle()
    assert result.report is not None and result.report.counters["preconditionFailed"] == 1
    assert result.plan is not None and result.plan.conflicts == 1  # counted, never silent
    expected = "Planon's subject" if leader is Side.PLANON else "Outlook's subject"
    assert [b.subject for b in h.planon.live()] == [expected]
    assert [b.subject for b in h.calendar.live()] == [expected]
    assert h.cycle().plan.empty  # type: ignore[union-attr]


def test_a_second_edit_during_the_replan_is_reported_and_repaired_next_cycle() -> None:
    h, c = synced()
    h.planon.edit("p1", lambda b: replace(b, subject="First"))

    def person_edits_twice() -> None:
        h.calendar.edit(c, lambda b: replace(b, optional=people(["eve@contoso.com"])))
        h.calendar.before_write = lambda: h.calendar.edit(c, lambda b: replace(b, optional=people(["fay@contoso.com"])))

    h.calendar.before_write = person_edits_twice
    result = h.cycle()
    assert result.reason == "ActionsFailed" and "changed after it was read" in result.message
    assert result.report is not None and result.report.counters["preconditionFailed"] == 2
    h.cycle()
    for store in (h.planon, h.calendar):
        [held] = store.live()
        assert held.subject == "First" and {p.email for p in held.optional} == {"fay@contoso.com"}
    assert h.cycle().plan.empty  # type: ignore[union-attr]


def test_edits_to_different_fields_on_both_sides_are_both_kept_without_a_conflict() -> None:
    h, c = synced()
    h.planon.edit("p1", lambda b: replace(b, subject="Renamed in Planon"))
    h.calendar.edit(c, lambda b: replace(b, optional=people(["eve@contoso.com"])))
    result = h.cycle()
    assert result.plan is not None and result.plan.conflicts == 0
    assert sorted(a.side.value for a in result.plan.actions if a.kind is ActionKind.UPDATE) == ["Calendar", "Planon"]
    for store in (h.planon, h.calendar):
        [held] = store.live()
        assert held.subject == "Renamed in Planon" and {p.email for p in held.optional} == {"eve@contoso.com"}
    assert h.cycle().plan.empty  # type: ignore[union-attr]


def test_overlapping_and_separate_edits_keep_the_separate_one_and_give_the_leader_the_overlap() -> None:
    h, c = synced(Policy(leader=Side.CALENDAR))
    h.planon.edit("p1", lambda b: replace(b, subject="Planon title", optional=people(["eve@contoso.com"])))
    h.calendar.edit(c, lambda b: replace(b, subject="Outlook title"))
    result = h.cycle()
    assert result.plan is not None and result.plan.conflicts == 1
    for store in (h.planon, h.calendar):
        [held] = store.live()
        assert held.subject == "Outlook title" and {p.email for p in held.optional} == {"eve@contoso.com"}


def test_a_meeting_booked_anew_in_another_room_moves_the_link_and_cancels_the_old_copy() -> None:
    h, _ = synced(calendar=type(Harness().calendar)(Side.CALENDAR, rebook_on_room_change=True))
    [old] = h.calendar.live()
    h.planon.edit("p1", lambda b: replace(b, rooms=frozenset({"MR-2"})))
    result = h.cycle()
    assert result.ok, result.message
    [new] = h.calendar.live()
    assert new.id != old.id and new.rooms == {"MR-2"}
    assert h.planon.bookings["p1"].link is not None and h.planon.bookings["p1"].link.peer_id == new.id
    assert h.cycle().plan.empty  # type: ignore[union-attr]


@pytest.mark.parametrize("crash_before", ["calendar create", "calendar cancel", "planon relink"])
def test_an_interrupted_re_booking_converges_without_duplicates(crash_before: str) -> None:
    h, _ = synced(calendar=type(Harness().calendar)(Side.CALENDAR, rebook_on_room_change=True))
    h.planon.edit("p1", lambda b: replace(b, rooms=frozenset({"MR-2"})))
    # the re-booking writes, in order: create in the new room, cancel the old copy, move Planon's link
    if crash_before == "planon relink":
        h.planon.crash_after_writes = h.planon.log.count()
    else:
        h.calendar.crash_after_writes = h.calendar.log.count() + (crash_before == "calendar cancel")
    with pytest.raises(InjectedCrash):
        h.cycle()
    h.planon.crash_after_writes = h.calendar.crash_after_writes = None
    h.cycle()
    [held] = h.calendar.live()
    assert held.rooms == {"MR-2"}
    link = h.planon.bookings["p1"].link
    assert link is not None and link.peer_id == held.id
    assert h.cycle().plan.empty  # type: ignore[union-attr]


def test_a_value_shortened_to_fit_planon_is_not_a_change_and_is_noted() -> None:
    limits = FieldLimits(subject=20, attendees=60)
    h = Harness(policy=Policy(limits=limits))
    h.planon = type(h.planon)(Side.PLANON, limits=limits)
    crowd = tuple(f"person{i:03}@contoso.com" for i in range(300))
    h.calendar.put(booking("c1", subject="All-hands town hall with the whole company", required=crowd))
    first = h.cycle()
    assert first.plan is not None
    assert any("attendee(s) left out" in n.message and "Planon" in n.message for n in first.plan.notes)
    [held] = h.planon.live()
    assert held.subject == "All-hands town hall…" and 0 < len(held.required) < 300
    assert h.cycle().plan.empty  # type: ignore[union-attr]
    assert len(next(iter(h.calendar.live())).required) == 300  # the calendar keeps everyone
