"""What each decision says: the one-line reason of every action and note (shown by `roomsync plan`, in status and in
events), and the comment a meeting organizer receives. Each line is the decision table of docs/architecture.md in
words, so a changed branch shows up here as a changed sentence.
"""

from __future__ import annotations

from dataclasses import replace

from roomsync.engine import ActionKind, Direction, Plan, Policy
from roomsync.model import Booking, FieldLimits, Link, Person, Side, Status, people
from tests.helpers import Harness, booking


def synced(policy: Policy | None = None, *planon: Booking) -> tuple[Harness, list[str]]:
    """A harness whose Planon bookings (one "p1" by default) are synced; returns it and the calendar copies' ids."""
    h = Harness(policy=policy or Policy())
    for b in planon or (booking("p1"),):
        h.planon.put(b)
    h.cycle()
    return h, [c.id for c in sorted(h.calendar.live(), key=lambda b: (b.start, b.id))]


def planned(h: Harness) -> Plan:
    result = h.cycle(dry_run=True)
    assert result.plan is not None
    return result.plan


def described(p: Plan) -> list[str]:
    return [a.describe() for a in p.actions]


def test_a_booking_new_on_one_side_is_created_on_the_other() -> None:
    h = Harness()
    h.planon.put(booking("p1", subject="Budget review", rooms=("MR-1", "MR-2")))
    h.calendar.put(booking("c1", 11, subject="Standup"))
    assert described(planned(h)) == [
        'create on Calendar: "Budget review" (MR-1, MR-2) - new in Planon',
        'create on Planon: "Standup" (MR-1) - new in Calendar',
    ]


def test_an_edit_says_where_it_was_made_and_a_conflict_who_leads() -> None:
    h, [c] = synced()
    h.planon.edit("p1", lambda b: replace(b, subject="Planon's"))
    assert described(planned(h)) == ['update on Calendar: "Planon\'s" (MR-1) - changed in Planon']
    h, [c] = synced()
    h.calendar.edit(c, lambda b: replace(b, subject="Outlook's"))
    assert described(planned(h)) == ['update on Planon: "Outlook\'s" (MR-1) - changed in Calendar']
    for leader in (Side.PLANON, Side.CALENDAR):
        h, [c] = synced(Policy(leader=leader))
        # links written before field digests existed (rs1): the groups cannot be told apart, the leader wins all
        h.planon.edit("p1", lambda b: replace(b, subject="Planon's", link=replace(b.link, fields="")))
        h.calendar.edit(c, lambda b: replace(b, subject="Outlook's", link=replace(b.link, fields="")))
        conflict = planned(h)
        winner = "Planon's" if leader is Side.PLANON else "Outlook's"
        assert described(conflict) == [
            f'update on {leader.other.value}: "{winner}" (MR-1) - changed on both sides; {leader.value} leads'
        ]
        assert conflict.conflicts == 1


def test_a_one_way_sync_says_which_side_is_the_source() -> None:
    for direction, source in (
        (Direction.PLANON_TO_CALENDAR, Side.PLANON),
        (Direction.CALENDAR_TO_PLANON, Side.CALENDAR),
    ):
        h = Harness(policy=Policy(direction=direction))
        (h.planon if source is Side.PLANON else h.calendar).put(booking("s1"))
        h.cycle()
        [target] = (h.calendar if source is Side.PLANON else h.planon).live()
        source_store, target_store = (h.planon, h.calendar) if source is Side.PLANON else (h.calendar, h.planon)
        target_store.edit(target.id, lambda b: replace(b, subject="Edited in the copy"))
        restored = planned(h)
        assert described(restored) == [
            f'update on {source.other.value}: "Meeting" (MR-1) - '
            f"{source.other.value} differs from {source.value}, which is the source of this one-way sync"
        ]
        assert restored.conflicts == 0
        target_store.edit(target.id, lambda b: replace(b, subject="Meeting"))
        source_store.edit("s1", lambda b: replace(b, subject="Edited in the source"))
        assert described(planned(h)) == [
            f'update on {source.other.value}: "Edited in the source" (MR-1) - changed in {source.value}'
        ]


def test_a_cancellation_or_deletion_is_followed_unless_the_leader_changed_the_meeting() -> None:
    h, [c] = synced()
    h.planon.edit("p1", lambda b: replace(b, status=Status.CANCELLED))
    assert described(planned(h)) == ['cancel on Calendar: "Meeting" (MR-1) - cancelled in Planon']
    # deleted in Planon while the calendar changed it: Planon leads, so the change loses
    h, [c] = synced()
    del h.planon.bookings["p1"]
    h.calendar.edit(c, lambda b: replace(b, subject="Changed in Outlook"))
    deleted = planned(h)
    assert described(deleted) == [
        'cancel on Calendar: "Changed in Outlook" (MR-1) - deleted in Planon; the change in Calendar loses because '
        "Planon leads"
    ]
    assert deleted.conflicts == 0
    # deleted in the calendar while Planon, the leader, changed it: booked again
    h, [c] = synced()
    del h.calendar.bookings[c]
    h.planon.edit("p1", lambda b: replace(b, subject="Changed in Planon"))
    restored = planned(h)
    assert described(restored) == [
        'create on Calendar: "Changed in Planon" (MR-1) - deleted in Calendar but changed in Planon, which leads'
    ]
    assert restored.conflicts == 1


def test_a_cancelled_item_the_leader_changed_is_revived_in_planon_and_booked_anew_in_the_calendar() -> None:
    h, [c] = synced(Policy(leader=Side.CALENDAR))
    h.planon.edit("p1", lambda b: replace(b, status=Status.CANCELLED))
    h.calendar.edit(c, lambda b: replace(b, subject="Changed in Outlook"))
    revived = planned(h)
    assert described(revived) == [
        'update on Planon: "Changed in Outlook" (MR-1) - cancelled in Planon but Calendar leads'
    ]
    assert revived.conflicts == 1 and revived.actions[0].target == h.planon.bookings["p1"]
    h, [c] = synced(Policy(leader=Side.PLANON))
    h.calendar.edit(c, lambda b: replace(b, status=Status.CANCELLED))
    h.planon.edit("p1", lambda b: replace(b, subject="Changed in Planon"))
    anew = planned(h)
    assert described(anew) == [
        'create on Calendar: "Changed in Planon" (MR-1) - cancelled in Calendar but Planon leads; booked anew in the '
        "room calendar"
    ]
    assert anew.conflicts == 1
    # an unchanged survivor follows the cancellation, whoever leads
    h, [c] = synced(Policy(leader=Side.PLANON))
    h.calendar.edit(c, lambda b: replace(b, status=Status.CANCELLED))
    assert described(planned(h)) == ['cancel on Planon: "Meeting" (MR-1) - cancelled in Calendar']


def test_a_one_way_sync_restores_what_was_removed_from_the_copy() -> None:
    h, [c] = synced()  # synced both ways first: Planon holds a link
    h.policy = Policy(direction=Direction.PLANON_TO_CALENDAR)
    del h.calendar.bookings[c]
    restored = planned(h)
    assert described(restored) == [
        'create on Calendar: "Meeting" (MR-1) - deleted in Calendar, restored from the source Planon'
    ]
    assert restored.conflicts == 0
    # a cancelled copy is updated back (a new copy would need a backlink, and the source is never written)
    h, [c] = synced(Policy(direction=Direction.PLANON_TO_CALENDAR))
    h.calendar.edit(c, lambda b: replace(b, status=Status.CANCELLED))
    revived = planned(h)
    assert described(revived) == ['update on Calendar: "Meeting" (MR-1) - cancelled in Calendar but Planon leads']
    assert revived.conflicts == 0


def test_links_say_why_they_are_written() -> None:
    h, [c] = synced()
    h.planon.edit("p1", lambda b: replace(b, subject="Agreed"))
    h.calendar.edit(c, lambda b: replace(b, subject="Agreed"))
    assert described(planned(h)) == ['relink on Planon: "Agreed" (MR-1) - record the last-synced state']
    # in the same cycle, two bookings that existed on both sides before the first sync
    h.planon.put(booking("p2", 11))
    h.calendar.put(booking("c2", 11))
    assert described(planned(h)) == [
        'relink on Planon: "Agreed" (MR-1) - record the last-synced state',
        'relink on Planon: "Meeting" (MR-1) - matched by room and time before the first sync',
    ]


def test_edits_on_both_sides_say_which_fields_were_kept_and_who_won_an_overlap() -> None:
    h, [c] = synced(Policy(leader=Side.CALENDAR))
    h.planon.edit("p1", lambda b: replace(b, subject="Renamed", required=people(["bob@contoso.com"])))
    h.calendar.edit(c, lambda b: replace(b, optional=people(["eve@contoso.com"])))
    merged = planned(h)
    both_kept = "changed on both sides in different fields (optional, required, subject); both kept"
    assert described(merged) == [
        f'update on Calendar: "Renamed" (MR-1) - {both_kept}',
        f'update on Planon: "Renamed" (MR-1) - {both_kept}',
    ]
    assert merged.conflicts == 0
    h.calendar.edit(c, lambda b: replace(b, subject="Outlook title", required=people(["dan@contoso.com"])))
    overlap = planned(h)
    leads = "changed on both sides (required, subject in both); Calendar leads"
    assert described(overlap) == [f'update on Planon: "Outlook title" (MR-1) - {leads}']
    assert overlap.conflicts == 1


def test_a_superseded_copy_is_cancelled_with_its_reason() -> None:
    h, [old] = synced()
    copy = h.calendar.put(replace(h.calendar.bookings[old], id="c-new", link=Link("p1", "fp", seq=2)))
    assert copy.link is not None
    assert described(planned(h)) == [
        'relink on Planon: "Meeting" (MR-1) - record the last-synced state',
        'cancel on Calendar: "Meeting" (MR-1) - superseded: the meeting was booked anew, this older copy is cancelled',
    ]


def test_a_pending_request_in_sync_is_accepted_with_the_comment_the_organizer_reads() -> None:
    h, [c] = synced(Policy(leader=Side.PLANON))
    h.calendar.edit(c, lambda b: replace(b, awaiting_response=True, status=Status.TENTATIVE))
    [respond] = planned(h).actions
    assert respond.describe() == 'respond on Calendar: "Meeting" (MR-1) - Planon holds this reservation'
    assert (respond.response, respond.comment) == ("accept", "Reserved in Planon.")
    h.cycle()
    assert h.calendar.responses[c] == [("accept", "Reserved in Planon.")]
    # a request decided by a Planon write gets the same comment
    h = Harness(policy=Policy(leader=Side.PLANON))
    h.calendar.put(booking("c1", awaiting_response=True, status=Status.TENTATIVE))
    h.cycle()
    assert h.calendar.responses["c1"] == [("accept", "Reserved in Planon.")]


def test_notes_say_what_was_left_alone_kept_or_shortened() -> None:
    h = Harness(policy=Policy(direction=Direction.PLANON_TO_CALENDAR))
    h.calendar.put(booking("c-own", subject="Private", rooms=("MR-2",)))
    [note] = planned(h).notes
    assert (note.rooms, note.message) == ({"MR-2"}, '"Private" exists only in Calendar; left alone')
    h, [c] = synced(Policy(), booking("p1", rooms=("MR-1", "MR-2")))
    del h.calendar.bookings[c]
    h.calendar.unreadable_rooms = frozenset({"MR-2"})
    kept = planned(h)
    assert kept.actions == ()
    assert [(n.rooms, n.message) for n in kept.notes] == [
        ({"MR-1", "MR-2"}, '"Meeting": Calendar could not be read completely; kept')
    ]
    limits = FieldLimits(subject=10, attendees=60)
    h = Harness(policy=Policy(limits=limits))
    crowd = tuple(f"person{i:02}@contoso.com" for i in range(10))
    h.calendar.put(booking("c1", subject="All-hands town hall", required=crowd, rooms=("MR-1", "MR-3")))
    [note] = planned(h).notes
    assert note.rooms == {"MR-1", "MR-3"}
    assert note.message == '"All-hands town hall": subject cut to 10 characters; 8 attendee(s) left out to fit Planon'


def test_a_refused_mass_delete_says_what_it_would_have_done_and_how_to_allow_it() -> None:
    h, _ = synced(Policy(), *(booking(f"p{i}", 7 + i) for i in range(4)))
    h.calendar.bookings.clear()
    refused = planned(h).refused
    assert refused == (
        "would cancel 4 of 4 synced bookings of room MR-1 in Planon (more than safety.maxDeletePercent=25%); nothing "
        "was written. If this is intended, set spec.safety.allowMassDelete (or pass --allow-mass-delete) once."
    )


def test_a_plan_counts_its_actions_by_kind_and_side() -> None:
    h, _ = synced(Policy(), booking("p1"), booking("p2", 11))
    h.planon.put(booking("p3", 13))
    h.calendar.put(booking("c9", 15))
    for p in ("p1", "p2"):
        h.planon.edit(p, lambda b: replace(b, optional=b.optional | {Person("eve@contoso.com")}))
    counted = planned(h)
    assert [counted.count(kind) for kind in (ActionKind.CREATE, ActionKind.UPDATE, ActionKind.CANCEL)] == [2, 2, 0]
    assert [counted.count(ActionKind.UPDATE, side) for side in (Side.PLANON, Side.CALENDAR)] == [0, 2]
    assert [counted.count(ActionKind.CREATE, side) for side in (Side.PLANON, Side.CALENDAR)] == [1, 1]
