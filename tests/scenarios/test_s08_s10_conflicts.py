"""Scenarios 8, 9 and 10: edits on both sides, deletions racing edits, and room mailboxes that rewrite subjects."""

from __future__ import annotations

import pytest

from tests.scenarios.world import ANNA, BEN, CANCELLED, F1, F2, F3, L1, World, at, span

ROOM_AGENT_REWRITES = pytest.mark.calendar_needs(
    "subject_rewrites",
    reason="only Exchange's booking assistant rewrites subjects (AddOrganizerToSubject, DeleteSubject); "
    "a Google resource or a CalDAV server never does",
)


async def test_s08_both_sides_edited_the_leader_wins_what_both_changed_and_nothing_ping_pongs(world: World) -> None:
    # following (the calendar leads): the organizer's move beats the Planon user's move; the Planon user's rename,
    # a field only Planon changed, is kept
    meeting = await world.outlook.book(BEN, [F1], "Planning", at(1, 9), at(1, 10))
    # in the lead (Planon leads): the Planon user's move beats the room delegate's move; the delegate's rename stays
    [boardroom] = await world.kiosk_book(L1, at(1, 9), at(1, 10), "Board prep", requestor=ANNA)
    await world.sync()
    [in_lead] = await world.entries(L1)

    [planned] = await world.reservations(F1)
    await world.outlook.edit(meeting, start=at(1, 11), end=at(1, 12))
    await world.kiosk_edit(planned, subject="Planning (renamed in Planon)", start=at(1, 13), end=at(1, 14))
    await world.kiosk_edit(boardroom, start=at(1, 15), end=at(1, 16))
    await world.outlook.edit(
        in_lead.meeting, subject="Board prep (renamed in the room calendar)", start=at(1, 17), end=at(1, 18)
    )
    results = await world.sync()

    [reservation], [entry] = await world.reservations(F1), await world.entries(F1)
    expected = ("Planning (renamed in Planon)", "Tue 04 Mar 11:00-12:00")
    assert (reservation.subject, span(reservation)) == expected == (entry.subject, span(entry))
    [reservation], [entry] = await world.reservations(L1), await world.entries(L1)
    expected = ("Board prep (renamed in the room calendar)", "Tue 04 Mar 15:00-16:00")
    assert (reservation.subject, span(reservation)) == expected == (entry.subject, span(entry))
    assert results["follow"].counters["conflicts"] == results["lead"].counters["conflicts"] == 1
    assert world.statuses["lead"]["counters"]["conflicts"] == 1

    # three further cycles write nothing on either side
    await world.assert_steady(cycles=3)
    assert all(not r.report for cycle in world.history[-3:] for r in cycle.values())


async def test_s09_deleted_on_one_side_while_edited_on_the_other_the_leader_decides(world: World) -> None:
    # following, calendar leads: cancelled in Outlook while moved in Planon -> the cancellation wins
    meeting = await world.outlook.book(BEN, [F1], "Retro", at(1, 9), at(1, 10))
    # in the lead, Planon leads: deleted in the room calendar while moved in Planon -> Planon's booking is restored
    [kept] = await world.kiosk_book(L1, at(2, 9), at(2, 10), "Strategy day prep", requestor=ANNA)
    # in the lead, Planon leads: cancelled in Planon while renamed in the calendar -> the cancellation wins
    [dropped] = await world.kiosk_book(L1, at(3, 9), at(3, 10), "Budget review", requestor=ANNA)
    await world.sync()
    [retro] = await world.reservations(F1)
    entries = {e.subject: e for e in await world.entries(L1)}

    await world.outlook.cancel(meeting)
    await world.kiosk_edit(retro, start=at(1, 13), end=at(1, 14))
    await world.outlook.cancel(entries["Strategy day prep"].meeting)  # the room's delegate deletes it
    await world.kiosk_edit(kept, start=at(2, 13), end=at(2, 14))
    await world.outlook.edit(entries["Budget review"].meeting, subject="Budget review (v2)")
    await world.kiosk_cancel(dropped)
    await world.sync()

    assert await world.reservations(F1) == [] and await world.entries(F1) == []
    assert [(r.subject, r.state) for r in await world.reservations(F1, live=False)] == [("Retro", CANCELLED)]
    assert [(e.subject, span(e)) for e in await world.entries(L1)] == [("Strategy day prep", "Wed 05 Mar 13:00-14:00")]
    assert [(r.subject, span(r)) for r in await world.reservations(L1)] == [
        ("Strategy day prep", "Wed 05 Mar 13:00-14:00")
    ]


async def test_s09_in_the_lead_a_meeting_its_organizer_cancelled_but_planon_moved_is_booked_anew(world: World) -> None:
    """Planon leads, so its move beats the organizer's cancellation. Only an organizer can revive a cancelled
    meeting, so the room books the meeting anew in its own calendar (for the same person) instead of updating the
    dead copy, which would change nothing and be retried for ever."""
    meeting = await world.outlook.book(BEN, [L1], "Lead retro", at(1, 9), at(1, 10), required=[ANNA])
    await world.sync()
    [reservation] = await world.reservations(L1)
    await world.outlook.cancel(meeting)
    await world.kiosk_edit(reservation, start=at(1, 13), end=at(1, 14))
    result = (await world.sync())["lead"]
    assert result.ok and result.counters["created"] == 1

    [entry] = await world.entries(L1)
    assert (entry.subject, span(entry), entry.organizer) == ("Lead retro", "Tue 04 Mar 13:00-14:00", BEN)
    assert entry.meeting != meeting  # a new meeting, organised by the room for Ben
    assert [(r.syscode, span(r)) for r in await world.reservations(L1)] == [
        (reservation.syscode, "Tue 04 Mar 13:00-14:00")
    ]


@ROOM_AGENT_REWRITES
async def test_s10_room_mailbox_rewriting_subjects_causes_no_endless_updates(world: World) -> None:
    """With AddOrganizerToSubject / DeleteSubject left on, the room's copy of an Outlook meeting carries the organizer's
    name instead of the subject. That is what the room calendar holds, so that is what Planon shows; nothing is
    written back, and the next cycles are quiet. Planon-made meetings are organised by the room itself and keep
    their subject."""
    await world.outlook.set_rewrites(F3, add_organizer=True, delete_subject=True)
    await world.outlook.book(BEN, [F3], "Secret project", at(1, 9), at(1, 10), organizer_name="Ben Smith")
    await world.kiosk_book(F3, at(1, 11), at(1, 12), "Facilities walk-through", requestor=ANNA)
    await world.sync()

    assert [(r.subject, r.organizer) for r in await world.reservations(F3)] == [
        ("Ben Smith", BEN),
        ("Facilities walk-through", ANNA),
    ]
    assert [e.subject for e in await world.entries(F3)] == ["Ben Smith", "Facilities walk-through"]
    await world.assert_steady(cycles=3)


@ROOM_AGENT_REWRITES
async def test_s10_with_only_delete_subject_planon_shows_an_empty_description(world: World) -> None:
    await world.outlook.set_rewrites(F2, add_organizer=False, delete_subject=True)
    await world.outlook.book(BEN, [F2], "Secret project", at(1, 9), at(1, 10))
    await world.sync()
    assert [(r.subject, r.organizer, span(r)) for r in await world.reservations(F2)] == [
        ("", BEN, "Tue 04 Mar 09:00-10:00")
    ]
    await world.assert_steady(cycles=2)
