"""Decisions of the planner that no example pinned: links and their sequence numbers, the fields and rooms a write
names, the window, request decisions, one-way syncs, the baseline, merges that half fail, series extension, safety.

Each test names the behaviour; mutation testing (docs/testing.md) found that nothing else failed without it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from roomsync.connectors.base import BackendUnavailable
from roomsync.connectors.memory import MemoryStore
from roomsync.engine import ActionKind, Direction, Plan, Policy, plan
from roomsync.model import Booking, FieldLimits, Link, Side, Snapshot, Status, people
from roomsync.model.recurrence import Frequency, Recurrence
from tests.helpers import NOW, Harness, booking


def synced(policy: Policy | None = None, *planon: Booking, **stores: MemoryStore) -> tuple[Harness, list[str]]:
    """A harness whose Planon bookings (one "p1" by default) are synced; returns it and the calendar copies' ids."""
    h = Harness(policy=policy or Policy())
    for name, store in stores.items():
        setattr(h, name, store)
    for b in planon or (booking("p1"),):
        h.planon.put(b)
    h.cycle()
    return h, [c.id for c in sorted(h.calendar.live(), key=lambda b: (b.start, b.id))]


def planned(h: Harness) -> Plan:
    result = h.cycle(dry_run=True)
    assert result.plan is not None
    return result.plan


def link_of(b: Booking) -> Link:
    assert b.link is not None
    return b.link


def test_link_sequence_numbers_start_at_one_and_rise_by_one_with_every_sync_of_a_pair() -> None:
    h = Harness()
    h.planon.put(booking("p1"))
    [create] = planned(h).actions
    assert create.desired is not None and link_of(create.desired).seq == 1
    h.cycle()
    [c] = h.calendar.live()
    assert link_of(h.planon.bookings["p1"]).seq == 1
    for seq in (2, 3):
        h.planon.edit("p1", lambda b, seq=seq: replace(b, subject=f"Edit {seq}"))
        [update] = planned(h).actions
        assert update.desired is not None and link_of(update.desired).seq == seq
        h.cycle()
    # a booking restored after its peer was deleted continues the sequence
    del h.calendar.bookings[c.id]
    h.planon.edit("p1", lambda b: replace(b, subject="Changed meanwhile"))
    [restore] = planned(h).actions
    assert restore.kind is ActionKind.CREATE and restore.desired is not None
    assert link_of(restore.desired).seq == link_of(h.planon.bookings["p1"]).seq + 1
    # a pair matched by room and time has no history: its first link is number one
    h = Harness()
    h.planon.put(booking("p1"))
    h.calendar.put(booking("c1"))
    [relink] = planned(h).actions
    assert relink.link is not None and relink.link.seq == 1


def test_an_update_names_the_fields_that_differ_and_every_room_it_touches() -> None:
    h, _ = synced()
    h.planon.edit("p1", lambda b: replace(b, subject="Moved", rooms=frozenset({"MR-2"})))
    [update] = planned(h).actions
    assert sorted(update.fields) == ["rooms", "subject"]
    assert update.rooms == {"MR-1", "MR-2"}  # a write that failed makes both rooms be read again


def weekly(b: Booking, *exdates_in_weeks: int) -> Booking:
    """``b`` as an open-ended weekly series, without the occurrences ``exdates_in_weeks`` weeks after its start."""
    exdates = frozenset(b.start + timedelta(weeks=w) for w in exdates_in_weeks)
    return replace(b, recurrence=Recurrence(Frequency.WEEKLY, exdates=exdates))


BEYOND_WINDOW = 30  # weeks: the default window ends 180 days ahead


def test_an_exception_beyond_the_window_is_no_difference() -> None:
    h, [c] = synced(Policy(), weekly(booking("p1")))
    # the calendar knows an exception beyond the window that Planon does not (Planon holds only the window)
    h.calendar.edit(c, lambda b: weekly(b, BEYOND_WINDOW))
    assert planned(h).empty
    h.planon.edit("p1", lambda b: replace(b, subject="Renamed"))
    [update] = planned(h).actions
    assert update.fields == ("subject",)
    # a series made in the calendar with such an exception: synced once, then nothing more to do
    h = Harness()
    h.calendar.put(weekly(booking("c1"), BEYOND_WINDOW))
    h.cycle()
    assert planned(h).empty


def test_edits_on_both_sides_of_a_series_merge_whatever_lies_beyond_the_window() -> None:
    h = Harness(policy=Policy(leader=Side.CALENDAR))
    h.calendar.put(weekly(booking("c1"), BEYOND_WINDOW))
    h.cycle()
    [p] = h.planon.live()
    h.planon.edit(p.id, lambda b: replace(b, subject="Renamed"))
    h.calendar.edit("c1", lambda b: replace(b, optional=people(["eve@contoso.com"])))
    merged = planned(h)
    assert merged.conflicts == 0
    assert {a.reason for a in merged.actions} == {
        "changed on both sides in different fields (optional, subject); both kept"
    }
    # the same occurrence cancelled on both sides is no conflict either, while Planon also renames the series
    h.cycle()
    h.planon.edit(p.id, lambda b: replace(weekly(b, 2), subject="Renamed again"))
    h.calendar.edit("c1", lambda b: weekly(b, 2, BEYOND_WINDOW))
    agreed = planned(h)
    assert agreed.conflicts == 0
    assert {a.reason for a in agreed.actions} == {
        "changed on both sides in different fields (schedule, subject); both kept"
    }


def test_every_conflict_in_a_plan_is_counted() -> None:
    h, ids = synced(Policy(), booking("p1"), booking("p2", 11), booking("p3", 13), booking("p4", 15))
    for p, c in zip(("p1", "p2"), ids, strict=False):  # the same field on both sides: the leader wins
        h.planon.edit(p, lambda b: replace(b, subject="Planon's"))
        h.calendar.edit(c, lambda b: replace(b, subject="Outlook's"))
    for p, c in zip(("p3", "p4"), ids[2:], strict=True):  # links without field digests: the leader wins all
        h.planon.edit(p, lambda b: replace(b, subject="Planon's", link=replace(link_of(b), fields="")))
        h.calendar.edit(c, lambda b: replace(b, subject="Outlook's", link=replace(link_of(b), fields="")))
    assert planned(h).conflicts == 4
    # deleted on one side while the leader changed it: restored, and each is a conflict
    h, ids = synced(Policy(), booking("p1"), booking("p2", 11))
    for p, c in zip(("p1", "p2"), ids, strict=True):
        del h.calendar.bookings[c]
        h.planon.edit(p, lambda b: replace(b, subject="Changed"))
    restored = planned(h)
    assert restored.conflicts == 2 and [a.kind for a in restored.actions] == [ActionKind.CREATE] * 2


def test_a_conflict_the_leader_settles_is_counted_in_the_report() -> None:
    h, [c] = synced()
    h.planon.edit("p1", lambda b: replace(b, subject="Planon's", link=replace(link_of(b), fields="")))
    h.calendar.edit(c, lambda b: replace(b, subject="Outlook's", link=replace(link_of(b), fields="")))
    result = h.cycle()
    assert result.report is not None and result.report.counters["conflicts"] == 1
    # cancelled in Planon while the calendar, which leads, changed it: revived, a conflict
    h, [c] = synced(Policy(leader=Side.CALENDAR))
    h.planon.edit("p1", lambda b: replace(b, status=Status.CANCELLED))
    h.calendar.edit(c, lambda b: replace(b, subject="Changed in Outlook"))
    result = h.cycle()
    assert result.report is not None and result.report.counters["conflicts"] == 1
    assert not h.planon.bookings["p1"].cancelled


def test_an_update_that_decides_a_pending_request_accepts_it() -> None:
    h = Harness(policy=Policy(leader=Side.PLANON))
    h.calendar.put(booking("c1", awaiting_response=True, status=Status.TENTATIVE))
    h.cycle()
    # the organizer moves the meeting: Exchange asks the room again
    later = {"start": NOW.replace(hour=11), "end": NOW.replace(hour=12), "awaiting_response": True}
    h.calendar.edit("c1", lambda b: replace(b, status=Status.TENTATIVE, **later))  # type: ignore[arg-type]
    [update] = planned(h).actions
    assert update.side is Side.PLANON and update.decides is not None and update.decides.request.id == "c1"
    h.cycle()
    assert [r for r, _ in h.calendar.responses["c1"]] == ["accept", "accept"]


def test_a_one_way_sync_from_the_calendar_never_answers_a_request() -> None:
    h = Harness(policy=Policy(leader=Side.PLANON, direction=Direction.CALENDAR_TO_PLANON))
    h.calendar.put(booking("c1", awaiting_response=True, status=Status.TENTATIVE))
    [create] = planned(h).actions
    assert create.decides is None
    h.cycle()
    assert planned(h).empty  # registered in Planon; still pending, and left so
    assert h.calendar.responses == {} and h.calendar.log.count() == 0


def test_a_create_hands_the_store_nothing_of_the_sources_identity() -> None:
    h = Harness(policy=Policy(leader=Side.PLANON))
    request = h.calendar.put(booking("c1", awaiting_response=True, status=Status.TENTATIVE))
    [create] = planned(h).actions
    desired = create.desired
    assert desired is not None and request.handle is not None
    assert (desired.id, desired.handle, desired.awaiting_response) == ("pending:c1", None, False)
    assert link_of(desired).peer_id == "c1" and create.source == request


def rewrite_snapshots(h: Harness, *, planon: set[str], calendar: set[str]) -> tuple[Snapshot, Snapshot]:
    """Both sides as read, with the ids each side says must be written again (``Snapshot.needs_rewrite``)."""
    return (
        Snapshot(tuple(h.planon.bookings.values()), needs_rewrite=frozenset(planon)),
        Snapshot(tuple(h.calendar.bookings.values()), needs_rewrite=frozenset(calendar)),
    )


REWRITE = "rewrite from the other side (an open-ended series reaches the window's end; room copies agree)"


def test_a_booking_that_must_be_written_again_is_rewritten_from_its_peer() -> None:
    h, [c] = synced(Policy(leader=Side.PLANON), weekly(booking("p1")))
    p1, c1 = h.planon.bookings["p1"], h.calendar.bookings[c]
    for side, target, peer, planon_ids, calendar_ids in (
        (Side.PLANON, p1, c1, {"p1"}, set()),
        (Side.CALENDAR, c1, p1, set(), {c}),
    ):
        [rewrite] = plan(h.policy, *rewrite_snapshots(h, planon=planon_ids, calendar=calendar_ids), NOW).actions
        assert (rewrite.kind, rewrite.side, rewrite.target, rewrite.source) == (ActionKind.UPDATE, side, target, peer)
        assert rewrite.reason == REWRITE
        # an occurrence the extension cannot reserve is reported: it never declines the meeting, nor is a conflict
        assert rewrite.decides is None and not rewrite.conflict
        assert rewrite.desired is not None and link_of(rewrite.desired).seq == link_of(p1).seq + 1
    # only the bookings named, and only on a side that may be written
    assert plan(h.policy, *rewrite_snapshots(h, planon={"p9"}, calendar=set()), NOW).empty
    one_way = replace(h.policy, direction=Direction.PLANON_TO_CALENDAR)
    assert plan(one_way, *rewrite_snapshots(h, planon={"p1"}, calendar=set()), NOW).empty


def test_mass_delete_guards_each_side_and_counts_only_linked_live_bookings() -> None:
    # deletions made in Planon: the calendar would lose them
    h, _ = synced(Policy(), *(booking(f"p{i}", 7 + i) for i in range(4)))
    h.planon.bookings.clear()
    refused = planned(h).refused
    assert refused is not None and "would cancel 4 of 4 synced bookings of room MR-1 in Calendar" in refused
    # new (unlinked) and cancelled bookings are not synced ones: 3 of 4 is too many
    h, _ = synced(Policy(), *(booking(f"p{i}", 7 + i) for i in range(4)), booking("gone", 12))
    h.planon.edit("gone", lambda b: replace(b, status=Status.CANCELLED))
    h.cycle()
    for i in range(8):
        h.planon.put(booking(f"new{i}", 8 + i, day=1))
    for c in sorted(h.calendar.live(), key=lambda b: b.start)[:3]:
        del h.calendar.bookings[c.id]
    refused = planned(h).refused
    assert refused is not None and "would cancel 3 of 4 synced bookings" in refused


def test_a_link_that_points_elsewhere_is_not_the_last_synced_state() -> None:
    for stale_side in (Side.PLANON, Side.CALENDAR):
        h, [c] = synced(Policy(leader=stale_side.other))
        gone = "c-gone" if stale_side is Side.PLANON else "p-gone"
        # the stale side's link names another item, with a higher sequence number and another fingerprint
        stale_store, target_id = (h.planon, "p1") if stale_side is Side.PLANON else (h.calendar, c)
        stale_store.edit(target_id, lambda b, gone=gone: replace(b, link=Link(gone, "0" * 16, seq=5)))
        # the other side changes the meeting: a plain edit to carry over, not a conflict
        other_store, other_id = (h.calendar, c) if stale_side is Side.PLANON else (h.planon, "p1")
        other_store.edit(other_id, lambda b: replace(b, subject="Edited"))
        edited = planned(h)
        assert edited.conflicts == 0
        assert [(a.kind, a.side) for a in edited.actions if a.kind is ActionKind.UPDATE] == [
            (ActionKind.UPDATE, stale_side)
        ]


def test_on_equal_sequence_numbers_planons_link_is_the_last_synced_state() -> None:
    h, [c] = synced()
    h.calendar.edit(c, lambda b: replace(b, link=replace(link_of(b), fingerprint="0" * 16)))
    assert planned(h).empty


def failing_next_update(side: Side) -> MemoryStore:
    class FailsOnce(MemoryStore):
        failures = 1

        async def update(self, current: Booking, desired: Booking, fields: object) -> Booking:
            if self.failures:
                self.failures -= 1
                raise BackendUnavailable("injected", backend=self.backend)
            return await super().update(current, desired, fields)  # type: ignore[arg-type]

    return FailsOnce(side)


def test_a_merge_whose_planon_write_fails_keeps_both_edits_on_the_next_cycle() -> None:
    planon = failing_next_update(Side.PLANON)
    h, [c] = synced(Policy(leader=Side.CALENDAR), planon=planon)
    h.planon.edit("p1", lambda b: replace(b, subject="Renamed in Planon"))
    h.calendar.edit(c, lambda b: replace(b, optional=people(["eve@contoso.com"])))
    first = h.cycle()
    assert first.report is not None and first.report.counters["failed"] == 1
    h.cycle()
    for store in (h.planon, h.calendar):
        [held] = store.live()
        assert held.subject == "Renamed in Planon" and {p.email for p in held.optional} == {"eve@contoso.com"}
    assert planned(h).empty


def test_a_merge_conflict_is_counted_once_on_the_write_that_settles_it() -> None:
    h, [c] = synced(Policy(leader=Side.CALENDAR))
    h.planon.edit("p1", lambda b: replace(b, subject="Renamed in Planon", optional=people(["eve@contoso.com"])))
    h.calendar.edit(c, lambda b: replace(b, subject="Renamed in Outlook"))
    result = h.cycle()
    assert result.report is not None and result.report.counters["conflicts"] == 1
    # the settling (Planon) write fails: no conflict was settled
    h, [c] = synced(Policy(leader=Side.CALENDAR), planon=failing_next_update(Side.PLANON))
    h.planon.edit("p1", lambda b: replace(b, subject="Renamed in Planon", optional=people(["eve@contoso.com"])))
    h.calendar.edit(c, lambda b: replace(b, subject="Renamed in Outlook"))
    result = h.cycle()
    assert result.report is not None and (result.report.counters["conflicts"], result.report.counters["failed"]) == (
        0,
        1,
    )
    # edits to different fields are no conflict
    h, [c] = synced()
    h.planon.edit("p1", lambda b: replace(b, subject="Renamed in Planon"))
    h.calendar.edit(c, lambda b: replace(b, optional=people(["eve@contoso.com"])))
    result = h.cycle()
    assert result.report is not None and result.report.counters["conflicts"] == 0
    assert result.report.counters["updated"] == 2


def test_a_merge_writes_only_the_side_that_lacks_the_merged_content() -> None:
    h, [c] = synced()
    h.planon.edit("p1", lambda b: replace(b, subject="Agreed", optional=people(["eve@contoso.com"])))
    h.calendar.edit(c, lambda b: replace(b, subject="Agreed"))
    [update] = planned(h).actions
    assert (update.kind, update.side) == (ActionKind.UPDATE, Side.CALENDAR)


def test_a_one_way_sync_keeps_its_link_on_the_copy_only() -> None:
    to_calendar = Policy(direction=Direction.PLANON_TO_CALENDAR)
    h = Harness(policy=to_calendar)
    h.planon.put(booking("p1"))
    h.calendar.put(booking("c1"))
    [relink] = planned(h).actions
    assert (relink.kind, relink.side, relink.target) == (ActionKind.RELINK, Side.CALENDAR, h.calendar.bookings["c1"])
    # synced both ways before, the copy's link since removed: Planon's link still pairs them, nothing to write
    h, [c] = synced()
    h.calendar.edit(c, lambda b: replace(b, link=None))
    h.policy = to_calendar
    assert planned(h).empty
    # from the calendar: a wrong link on the calendar is left as it is (the source is never written)
    h, [c] = synced()
    h.calendar.edit(c, lambda b: replace(b, link=replace(link_of(b), peer_id="p-old")))
    h.policy = Policy(direction=Direction.CALENDAR_TO_PLANON)
    assert planned(h).empty
    # both ways, the wrong link is corrected
    h.policy = Policy()
    [fix] = planned(h).actions
    assert (fix.kind, fix.side, fix.link and fix.link.peer_id) == (ActionKind.RELINK, Side.CALENDAR, "p1")


def test_a_missing_item_counts_as_deleted_unless_its_own_room_was_unreadable() -> None:
    h, [c] = synced()
    del h.calendar.bookings[c]
    h.calendar.unreadable_rooms = frozenset({"MR-2"})
    [cancel] = planned(h).actions
    assert (cancel.kind, cancel.side) == (ActionKind.CANCEL, Side.PLANON)
    # an explicit cancellation needs no complete read
    h, [c] = synced()
    h.calendar.edit(c, lambda b: replace(b, status=Status.CANCELLED))
    partial = Snapshot(tuple(h.calendar.bookings.values()), unreadable_rooms=frozenset({"MR-1"}))
    [cancel] = plan(h.policy, Snapshot(tuple(h.planon.bookings.values())), partial, NOW).actions
    assert (cancel.kind, cancel.side) == (ActionKind.CANCEL, Side.PLANON)


def test_a_one_way_sync_from_the_calendar_leaves_a_superseded_copy_alone() -> None:
    h, [old] = synced()
    h.calendar.put(replace(h.calendar.bookings[old], id="c-new", link=Link("p1", "fp", seq=2)))
    h.policy = Policy(direction=Direction.CALENDAR_TO_PLANON)
    assert [(a.kind, a.side) for a in planned(h).actions] == [(ActionKind.RELINK, Side.PLANON)]


def test_a_one_way_sync_from_planon_never_backlinks_a_re_booked_meeting() -> None:
    h, _ = synced(
        Policy(direction=Direction.PLANON_TO_CALENDAR), calendar=MemoryStore(Side.CALENDAR, rebook_on_room_change=True)
    )
    h.planon.edit("p1", lambda b: replace(b, rooms=frozenset({"MR-2"})))
    [update] = planned(h).actions
    assert update.backlink_if_moved is False
    h.cycle()
    assert h.planon.log.count() == 0
    [moved] = h.calendar.live()
    assert moved.rooms == {"MR-2"}
    # Planon holds no link (it is never written): the new copy, not the cancelled old one, is its partner from now on
    for _ in range(3):
        assert h.cycle().plan.empty  # type: ignore[union-attr]
    assert [b.id for b in h.calendar.live()] == [moved.id] and h.planon.log.count() == 0


def test_a_write_shortened_to_fit_says_so_for_updates_too() -> None:
    limits = FieldLimits(subject=10)
    h, [c] = synced(Policy(limits=limits), planon=MemoryStore(Side.PLANON, limits=limits))
    h.calendar.edit(c, lambda b: replace(b, subject="A much longer title"))
    assert [n.message for n in planned(h).notes] == [
        '"A much longer title": subject cut to 10 characters to fit Planon'
    ]


def test_directions_allow_changes_from_their_source_only() -> None:
    assert [d.allows(Side.PLANON) for d in Direction] == [True, True, False]
    assert [d.allows(Side.CALENDAR) for d in Direction] == [True, False, True]
    assert [d.source for d in Direction] == [None, Side.PLANON, Side.CALENDAR]


def test_a_cancellation_undone_by_a_one_way_sync_is_no_conflict_but_one_the_leader_undoes_is() -> None:
    h, [c] = synced(Policy(direction=Direction.PLANON_TO_CALENDAR))
    h.calendar.edit(c, lambda b: replace(b, status=Status.CANCELLED))
    [restore] = planned(h).actions
    assert (restore.kind, restore.side, restore.conflict) == (ActionKind.UPDATE, Side.CALENDAR, False)
    result = h.cycle()
    assert result.report is not None and result.report.counters["conflicts"] == 0
    # both ways: Planon cancels while the calendar, which leads, changed the meeting: the leader's edit wins
    h, [c] = synced(Policy(leader=Side.CALENDAR))
    h.planon.edit("p1", lambda b: replace(b, status=Status.CANCELLED))
    h.calendar.edit(c, lambda b: replace(b, subject="Moved on"))
    [revive] = planned(h).actions
    assert (revive.kind, revive.side, revive.conflict) == (ActionKind.UPDATE, Side.PLANON, True)
