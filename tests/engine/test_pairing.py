"""Which Planon booking is which calendar booking: links first, then iCalUId, then room and time (engine.pairing)."""

from __future__ import annotations

from dataclasses import replace

from roomsync.engine import dangling_peer_ids, pair
from roomsync.model import Booking, Link, Status
from tests.helpers import booking


def linked(b: Booking, peer_id: str, seq: int = 1) -> Booking:
    return b.with_link(Link(peer_id, "fp", seq))


def pairs_of(planon: list[Booking], calendar: list[Booking]) -> set[tuple[str, str]]:
    return {(p.id, c.id) for p, c in pair(planon, calendar).pairs}


def test_mutual_and_one_way_links_pair() -> None:
    planon = [linked(booking("p1"), "c1"), linked(booking("p2", 11), "c2"), booking("p3", 13)]
    calendar = [linked(booking("c1"), "p1"), booking("c2", 11), linked(booking("c3", 13), "p3")]
    assert pairs_of(planon, calendar) == {("p1", "c1"), ("p2", "c2"), ("p3", "c3")}


def test_a_link_whose_peer_points_at_a_booking_that_was_not_read_still_pairs() -> None:
    # Planon's link is current; the calendar item's link names a Planon booking that is gone (an old pairing)
    planon = [linked(booking("p1"), "c1")]
    calendar = [linked(booking("c1"), "p-gone")]
    assert pairs_of(planon, calendar) == {("p1", "c1")}
    # the calendar's link is current; Planon's names a calendar item that is gone
    planon = [linked(booking("p1"), "c-gone")]
    calendar = [linked(booking("c1"), "p1")]
    assert pairs_of(planon, calendar) == {("p1", "c1")}


def test_a_link_to_an_item_that_belongs_to_another_booking_does_not_pair() -> None:
    planon = [linked(booking("p1"), "c1"), linked(booking("p2", 11), "c1")]
    calendar = [linked(booking("c1"), "p2")]
    result = pair(planon, calendar)
    assert {(p.id, c.id) for p, c in result.pairs} == {("p2", "c1")}
    assert [b.id for b in result.planon_only] == ["p1"]
    # the same from the calendar's side: c2 claims p1, but p1's own link names c1, which exists
    planon = [linked(booking("p1"), "c1")]
    calendar = [linked(booking("c1"), "p1"), linked(booking("c2", 11), "p1")]
    result = pair(planon, calendar)
    assert {(p.id, c.id) for p, c in result.pairs} == {("p1", "c1")}
    assert [b.id for b in result.calendar_only] == [] and [b.id for b in result.superseded] == ["c2"]


def test_a_booking_that_recorded_the_meetings_ical_uid_pairs_with_it() -> None:
    # different times: only the iCalUId can pair them
    planon = [booking("p1", 9, ical_uid="uid-1"), booking("p2", 11, ical_uid="uid-2")]
    calendar = [booking("c1", 15, ical_uid="uid-1"), booking("c9", 16, ical_uid="uid-9")]
    result = pair(planon, calendar)
    assert {(p.id, c.id) for p, c in result.pairs} == {("p1", "c1")}
    assert [b.id for b in result.planon_only] == ["p2"] and [b.id for b in result.calendar_only] == ["c9"]
    assert result.adopted == frozenset()


def test_an_ical_uid_pairs_only_bookings_that_are_not_paired_yet() -> None:
    # p1 is linked to c1 and also recorded c2's iCalUId; p2 recorded the same iCalUId as c2
    planon = [linked(booking("p1", ical_uid="uid-2"), "c1"), booking("p2", 11, ical_uid="uid-2")]
    calendar = [linked(booking("c1"), "p1"), booking("c2", 15, ical_uid="uid-2"), booking("c3", 16)]
    assert pairs_of(planon, calendar) == {("p1", "c1"), ("p2", "c2")}
    # two Planon bookings with one iCalUId: the first takes the meeting, the other stays alone
    planon = [booking("p1", 9, ical_uid="uid-1"), booking("p2", 11, ical_uid="uid-1")]
    calendar = [booking("c1", 15, ical_uid="uid-1")]
    result = pair(planon, calendar)
    assert {(p.id, c.id) for p, c in result.pairs} == {("p1", "c1")}
    assert [b.id for b in result.planon_only] == ["p2"]
    # a calendar item already paired by its link is not taken again by an iCalUId, nor does it hide another
    # item with the same iCalUId (a second copy of the meeting)
    planon = [linked(booking("p1"), "c1"), booking("p2", 11, ical_uid="uid-1")]
    calendar = [replace(linked(booking("c1"), "p1"), ical_uid="uid-1"), booking("c3", 16)]
    assert pairs_of(planon, calendar) == {("p1", "c1")}
    assert pairs_of(planon, [booking("c2", 15, ical_uid="uid-1"), *calendar]) == {("p1", "c1"), ("p2", "c2")}


def test_unlinked_bookings_at_the_same_time_in_a_shared_room_are_adopted() -> None:
    planon = [booking("p1", 9, rooms=("MR-1", "MR-2")), booking("p2", 11)]
    calendar = [booking("c1", 9, rooms=("MR-2",)), booking("c2", 11, minutes=30)]
    result = pair(planon, calendar)
    assert {(p.id, c.id) for p, c in result.pairs} == {("p1", "c1")}
    assert result.adopted == frozenset({"c1"})
    assert [b.id for b in result.planon_only] == ["p2"] and [b.id for b in result.calendar_only] == ["c2"]


def test_adoption_needs_a_shared_room_and_takes_each_item_once() -> None:
    planon = [booking("p1", 9, rooms=("MR-1",)), booking("p2", 9, rooms=("MR-1",)), booking("p3", 9, rooms=("MR-3",))]
    calendar = [booking("c1", 9, rooms=("MR-1",)), booking("c2", 9, rooms=("MR-2",))]
    result = pair(planon, calendar)
    assert {(p.id, c.id) for p, c in result.pairs} == {("p1", "c1")}
    assert sorted(b.id for b in result.planon_only) == ["p2", "p3"]
    assert [b.id for b in result.calendar_only] == ["c2"]


def test_linked_or_cancelled_bookings_are_never_adopted() -> None:
    # a linked Planon booking whose peer is gone, then an unlinked one: only the unlinked one adopts
    planon = [linked(booking("p1", 9), "c-gone"), booking("p2", 11)]
    calendar = [booking("c1", 9), booking("c2", 11)]
    assert pairs_of(planon, calendar) == {("p2", "c2")}
    # a linked calendar item whose peer is gone is a deletion to handle, not a match by time
    planon = [booking("p1", 9), booking("p2", 11)]
    calendar = [linked(booking("c1", 9), "p-gone"), booking("c2", 11)]
    assert pairs_of(planon, calendar) == {("p2", "c2")}
    cancelled = replace(booking("x", 9), status=Status.CANCELLED)
    assert pairs_of([replace(cancelled, id="p1")], [booking("c1", 9)]) == set()
    assert pairs_of([booking("p1", 9)], [replace(cancelled, id="c1")]) == set()


def test_the_newest_live_copy_of_a_re_booked_meeting_is_the_partner() -> None:
    # Planon still links to the first copy (the process died before its link moved); copies 2 and 3 link back with
    # higher sequence numbers; the cancelled copy 4 does not count
    planon = [linked(booking("p1"), "c1", seq=1)]
    c4 = replace(linked(booking("c4"), "p1", seq=9), status=Status.CANCELLED)
    calendar = [linked(booking("c1"), "p1", seq=1), linked(booking("c3"), "p1", seq=3), linked(booking("c2"), "p1", 2)]
    result = pair(planon, [*calendar, c4])
    assert {(p.id, c.id) for p, c in result.pairs} == {("p1", "c3")}
    assert sorted(b.id for b in result.superseded) == ["c1", "c2"]
    assert [b.id for b in result.calendar_only] == ["c4"]  # cancelled: nothing to pair or to cancel


def test_a_linked_copy_that_was_cancelled_or_has_no_link_gives_way_to_a_re_booked_one() -> None:
    cancelled = replace(linked(booking("c1"), "p1", seq=2), status=Status.CANCELLED)
    result = pair([linked(booking("p1"), "c1", seq=2)], [cancelled, linked(booking("c2"), "p1", seq=1)])
    assert {(p.id, c.id) for p, c in result.pairs} == {("p1", "c2")}
    # the copy Planon links to carries no link of its own (made in Outlook): a copy linking back replaces it
    result = pair([linked(booking("p1"), "c1", seq=1)], [booking("c1"), linked(booking("c2"), "p1", seq=1)])
    assert {(p.id, c.id) for p, c in result.pairs} == {("p1", "c2")}


def test_planons_own_link_decides_between_copies_with_the_same_sequence_number() -> None:
    calendar = [linked(booking("c2"), "p1", seq=2), linked(booking("c1"), "p1", seq=2)]
    assert pairs_of([linked(booking("p1"), "c1", seq=2)], calendar) == {("p1", "c1")}


def test_dangling_peer_ids_name_what_each_side_links_to_but_the_other_did_not_return() -> None:
    planon = [linked(booking("p1"), "c1"), linked(booking("p2"), "c-moved"), booking("p3")]
    calendar = [linked(booking("c1"), "p1"), linked(booking("c2"), "p-moved"), booking("c3")]
    assert dangling_peer_ids(planon, calendar) == ({"c-moved"}, {"p-moved"})
