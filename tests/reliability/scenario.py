"""A small but complete multi-booking situation on both sides: what one sync cycle has to carry across.

:func:`baseline` books five meetings that a first sync links up. :func:`changes` then makes, as people would, the
changes that give the next cycle every kind of write: creates both ways, updates both ways, cancels both ways, a
meeting request in the lead room that Planon accepts and one that Planon refuses (so RoomSync declines it).
:func:`series` and :func:`series_change` add a Planon-made series (with the Planon Connection's ``nativeSeries``)
and one occurrence of it cancelled in Planon: the calendar cancels that occurrence, then writes the link.
"""

from __future__ import annotations

from datetime import datetime

from roomsync.sandbox.building import at, person
from tests.reliability.rig import FOLLOW, LEAD, Rig

ROOM_A, ROOM_B = FOLLOW
TZ = "Europe/Amsterdam"
NATIVE_SERIES = {"reservationFields": {"nativeSeries": "RecurrentReservationRef"}}


async def baseline(rig: Rig, day: datetime) -> dict[str, object]:
    """Bookings that exist before the cycle under test; returns their handles (syscodes and iCalUIds)."""
    kiosk, outlook = rig.planon.admin, rig.graph.admin
    handles: dict[str, object] = {}
    handles["standup"] = (await kiosk.book(ROOM_A.code, at(day, 9), at(day, 10), "Standup", requestor=person("anna")))[
        0
    ]["syscode"]
    handles["retro"] = (await kiosk.book(ROOM_B.code, at(day, 11), at(day, 12), "Retro", requestor=person("ben")))[0][
        "syscode"
    ]
    handles["board"] = (
        await kiosk.book(LEAD.code, at(day, 10), at(day, 11), "Board meeting", requestor=person("anna"))
    )[0]["syscode"]
    handles["design"] = await outlook.book_in_outlook(
        person("ben"), [ROOM_A.mailbox], "Design review", at(day, 13), at(day, 14), [person("anna")], time_zone=TZ
    )
    handles["budget"] = await outlook.book_in_outlook(
        person("carla"), [ROOM_B.mailbox], "Budget", at(day, 15), at(day, 16), [person("dev")], time_zone=TZ
    )
    return handles


async def changes(rig: Rig, day: datetime, handles: dict[str, object]) -> None:
    """Everything people change between two cycles (see the module docstring)."""
    kiosk, outlook = rig.planon.admin, rig.graph.admin
    await kiosk.book(ROOM_A.code, at(day, 16), at(day, 17), "Workshop", requestor=person("carla"))
    await kiosk.edit(int(handles["standup"]), start=at(day, 9, 30), end=at(day, 10, 30), subject="Standup (moved)")
    await kiosk.cancel(int(handles["retro"]))
    await outlook.book_in_outlook(
        person("dev"), [ROOM_B.mailbox], "Interview", at(day, 9), at(day, 10), [person("carla")], time_zone=TZ
    )
    await outlook.edit(str(handles["design"]), start=at(day, 13, 30), end=at(day, 14, 30))
    await outlook.cancel(str(handles["budget"]), "not needed")
    await outlook.book_in_outlook(
        person("carla"), [LEAD.mailbox], "Quarterly results", at(day, 14), at(day, 15), [person("anna")], time_zone=TZ
    )
    await outlook.book_in_outlook(
        person("ben"), [LEAD.mailbox], "Clashing request", at(day, 10, 30), at(day, 11, 30), time_zone=TZ
    )


async def series(rig: Rig, day: datetime) -> list[int]:
    """A weekly series booked at a Planon kiosk (Planon's "Make recurrent"); returns its reservations' syscodes."""
    made = await rig.planon.admin.book(
        ROOM_A.code, at(day, 11), at(day, 12), "Weekly sync", requestor=person("dev"), recurrence="FREQ=WEEKLY;COUNT=3"
    )
    return [int(r["syscode"]) for r in made]


async def series_change(rig: Rig, syscodes: list[int]) -> None:
    """A Planon user cancels the series' second occurrence (and moves none): issue 11, defect 2."""
    await rig.planon.admin.cancel(syscodes[1])
