"""Scenario 14: defects found against a Planon that behaves as documented (issue "Defects in promised behaviour",
items 1 and 6) and Planon's write precondition (issue "One port for every backend").

* An organizer shortens a weekly series in Outlook: the dropped occurrences are cancelled in Planon and stay
  cancelled. A cancelled reservation keeps the series text it had; it must never give the series its shape.
* A town hall whose attendee list does not fit Planon's free field (and whose subject is longer than Description):
  Planon still holds the room, with the text shortened and marked; the short text is never pushed back.
* A Planon user's edit made between RoomSync's read and its write is not overwritten: the write is refused
  (``PreconditionFailed``), and the next cycle decides with both changes in view, as the decision table says.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.scenarios.conftest import WorldFactory
from tests.scenarios.world import ANNA, BEN, DOMAIN, F1, L1, World, at, local, span

#: 300 invitees: about 8,000 characters of addresses, four times what Planon's attendee field holds.
CROWD = [f"colleague.{n:03d}@{DOMAIN}" for n in range(300)]
#: Longer than Planon's Description (100 characters).
LONGER_SUBJECT = (
    "Town hall: quarterly results, the new strategy, the office move and questions from every site (with the board)"
)


def tuesdays(count: int, hour: int = 9) -> list[datetime]:
    return [at(1 + 7 * i, hour) for i in range(count)]


async def test_s14_a_series_shortened_in_outlook_stays_short_in_planon(world: World) -> None:
    meeting = await world.outlook.book(BEN, [F1], "Weekly sync", at(1, 9), at(1, 10), rrule="FREQ=WEEKLY;COUNT=5")
    await world.sync()
    assert [local(r.start) for r in await world.reservations(F1)] == [local(t) for t in tuesdays(5)]

    await world.outlook.edit(meeting, rrule="FREQ=WEEKLY;COUNT=2")
    await world.sync()
    assert [local(r.start) for r in await world.reservations(F1)] == [local(t) for t in tuesdays(2)]
    cancelled = [r for r in await world.reservations(F1, live=False) if not r.live]
    assert [local(r.start) for r in cancelled] == [local(t) for t in tuesdays(5)[2:]]
    assert all("COUNT=5" in r.series for r in cancelled)  # history: they keep the rule they were cancelled under

    # the next cycles neither re-reserve the dropped occurrences nor push five weeks back to Outlook
    for name, result in (await world.sync()).items():
        assert result.plan is not None and result.plan.empty, (name, [a.describe() for a in result.plan.actions])
    assert [local(r.start) for r in await world.reservations(F1)] == [local(t) for t in tuesdays(2)]
    assert [local(e.start) for e in await world.entries(F1)] == [local(t) for t in tuesdays(2)]


@pytest.mark.xfail(
    strict=True,
    reason="the Planon side holds the room with shortened text, but the engine does not yet compare both sides as "
    "the narrower one holds them (Policy.limits, the lead's wiring): the short text reads as a Planon change and is "
    "pushed to the calendar every cycle",
)
async def test_s14_a_town_hall_too_big_for_planons_fields_is_reserved_with_shortened_text(world: World) -> None:
    await world.outlook.book(BEN, [F1], LONGER_SUBJECT, at(2, 15), at(2, 16), required=CROWD)
    result = (await world.sync())["follow"]
    assert result.ok, result.message
    [reservation] = await world.reservations(F1)  # Planon holds the room
    assert len(reservation.subject) <= 100 and reservation.subject.endswith("…")
    assert LONGER_SUBJECT.startswith(reservation.subject[:-1])
    lines = reservation.attendees.splitlines()
    assert len(reservation.attendees) <= 2000 and lines[0].startswith(f"Required: {CROWD[0]}, {CROWD[1]}")
    kept = len(lines[0].removeprefix("Required: ").split(", "))
    assert lines[-1] == f"… and {len(CROWD) - kept} more" and 50 < kept < len(CROWD)
    assert reservation.organizer == BEN and span(reservation) == "Wed 05 Mar 15:00-16:00"

    # a shortened value is not a change: nothing is pushed back to the calendar, which keeps the whole meeting
    for name, result in (await world.sync()).items():
        assert result.plan is not None and result.plan.empty, (name, [a.describe() for a in result.plan.actions])
    [entry] = await world.entries(F1)
    assert entry.subject == LONGER_SUBJECT and entry.required == frozenset(CROWD)


async def test_s14_a_planon_edit_between_read_and_write_is_not_overwritten(make_world: WorldFactory) -> None:
    """In the lead room: the room's delegate renames the meeting in the room calendar, and a Planon user moves the
    reservation after RoomSync read Planon but before it writes the rename there. Planon refuses the stale write
    (the change time in its filter no longer matches); the next cycle sees both changes, and Planon, which leads,
    wins as a whole (docs/behaviour.md, scenario 8)."""
    world = await make_world(planon={"reservationFields": {"changedAt": "SysChangeDateTime"}})
    [booked] = await world.kiosk_book(L1, at(1, 9), at(1, 10), "Board prep", requestor=ANNA)
    await world.sync()
    [entry] = await world.entries(L1)

    await world.outlook.edit(entry.meeting, subject="Board prep (renamed in the room calendar)")
    moved = {"syscode": booked.syscode, "start": at(1, 15).isoformat(), "end": at(1, 16).isoformat()}
    await world.planon.admin.fault("person", "update", edit=moved)  # lands just before RoomSync's update
    await world.sync()
    [reservation] = await world.reservations(L1)
    assert (reservation.subject, span(reservation)) == ("Board prep", "Tue 04 Mar 15:00-16:00")  # the move is kept
    refused = [o for cycle in world.history for r in cycle.values() if r.report for o in r.report.outcomes]
    assert [o.reason for o in refused if not o.ok] == ["PreconditionFailed"]

    await world.sync()
    [reservation], [entry] = await world.reservations(L1), await world.entries(L1)
    assert (reservation.subject, span(reservation)) == ("Board prep", "Tue 04 Mar 15:00-16:00")
    assert (entry.subject, span(entry)) == ("Board prep", "Tue 04 Mar 15:00-16:00")
    assert world.statuses["lead"]["counters"]["conflicts"] == 1
