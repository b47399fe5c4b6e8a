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
    """In the lead room, while a Planon user changes the reservation after RoomSync read Planon but before it writes
    there: Planon refuses the stale write (the change time in its filter no longer matches), the cycle reads and
    plans again, and the decision table decides with both edits in view (docs/behaviour.md, scenario 8): a rename in
    the room calendar and a move in Planon both survive; two moves end at Planon's, which leads."""
    world = await make_world(planon={"reservationFields": {"changedAt": "SysChangeDateTime"}})
    [renamed] = await world.kiosk_book(L1, at(1, 9), at(1, 10), "Board prep", requestor=ANNA)
    [moved] = await world.kiosk_book(L1, at(2, 9), at(2, 10), "Budget review", requestor=ANNA)
    await world.sync()
    entries = {e.subject: e for e in await world.entries(L1)}

    # a rename in the room calendar, a move in Planon: different fields, both survive
    await world.outlook.edit(entries["Board prep"].meeting, subject="Board prep (renamed in the room calendar)")
    await person_moves_before_roomsyncs_write(world, renamed.syscode, at(1, 15), at(1, 16))
    result = (await world.sync())["lead"]
    assert result.ok and result.counters["preconditionFailed"] == 1, result.message
    expected = [
        ("Board prep (renamed in the room calendar)", "Tue 04 Mar 15:00-16:00"),
        ("Budget review", "Wed 05 Mar 09:00-10:00"),
    ]
    assert [(r.subject, span(r)) for r in await world.reservations(L1)] == expected
    assert [(e.subject, span(e)) for e in await world.entries(L1)] == expected

    # a move in the room calendar, another in Planon: the same field, and Planon leads
    await world.outlook.edit(entries["Budget review"].meeting, start=at(2, 17), end=at(2, 18))
    await person_moves_before_roomsyncs_write(world, moved.syscode, at(2, 15), at(2, 16))
    result = (await world.sync())["lead"]
    assert result.ok and result.counters["preconditionFailed"] == 1, result.message
    expected[1] = ("Budget review", "Wed 05 Mar 15:00-16:00")
    assert [(r.subject, span(r)) for r in await world.reservations(L1)] == expected
    assert [(e.subject, span(e)) for e in await world.entries(L1)] == expected
    assert world.statuses["lead"]["counters"]["preconditionFailed"] == 2


async def person_moves_before_roomsyncs_write(world: World, syscode: int, start: datetime, end: datetime) -> None:
    """A Planon user's move that lands just before RoomSync's next update request (after its read)."""
    edit = {"syscode": syscode, "start": start.isoformat(), "end": end.isoformat()}
    await world.planon.admin.fault("person", "update", edit=edit)
