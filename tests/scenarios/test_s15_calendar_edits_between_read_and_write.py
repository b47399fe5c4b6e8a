"""Scenario 15: a person edits a meeting in the calendar between RoomSync's read and its write (issue 12).

RoomSync's write carries the version it read; the calendar refuses it, nothing is overwritten, and the cycle reads
the meeting again and plans again: edits to different fields on both sides both survive, and when both sides
changed the same field the leader's value stays (counted as a conflict).
"""

from __future__ import annotations

from tests.scenarios.world import F3, L1, Room, World, at, span


async def _planon_made(world: World, room: Room, subject: str) -> str:
    await world.kiosk_book(room, at(2, 10), at(2, 11), subject)
    await world.sync()
    [entry] = await world.entries(room)
    return entry.meeting


async def test_s15_edits_to_different_fields_on_both_sides_both_survive(world: World) -> None:
    meeting = await _planon_made(world, F3, "Planning")
    [reservation] = await world.reservations(F3)
    await world.kiosk_edit(reservation, subject="Planning (with agenda)")
    # RoomSync reads both sides and plans "rename in the calendar"; the room's delegate moves it just before
    await world.outlook_edit_during_next_write(meeting, start=at(2, 12), end=at(2, 13))
    result = (await world.sync())["follow"]
    assert result.report is not None and result.report.counters["preconditionFailed"] == 1
    assert result.report.failed == []  # read again and planned again in the same cycle
    [entry], [reservation] = await world.entries(F3), await world.reservations(F3)
    assert (entry.subject, span(entry)) == ("Planning (with agenda)", "Wed 05 Mar 12:00-13:00")
    assert (reservation.subject, span(reservation)) == ("Planning (with agenda)", "Wed 05 Mar 12:00-13:00")


async def test_s15_the_same_field_edited_on_both_sides_ends_with_the_leader(world: World) -> None:
    for room, leader_wins in ((F3, "Outlook's subject"), (L1, "Planon's subject")):  # follow, then in the lead
        meeting = await _planon_made(world, room, "Review")
        [reservation] = await world.reservations(room)
        await world.kiosk_edit(reservation, subject="Planon's subject")
        await world.outlook_edit_during_next_write(meeting, subject="Outlook's subject")
        results = await world.sync()
        name = "lead" if room is L1 else "follow"
        report = results[name].report
        assert report is not None and report.counters["preconditionFailed"] == 1, name
        plan = results[name].plan
        assert plan is not None and plan.conflicts == 1  # never silent
        [entry], [reservation] = await world.entries(room), await world.reservations(room)
        assert entry.subject == reservation.subject == leader_wins, name
