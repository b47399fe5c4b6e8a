"""Exchange Online's own scenarios: what a cycle reads of a room calendar through Graph's delta (issue 17).

Graph's calendarView/delta returns no extended properties, so a new item's RoomSync link can only be read with a GET.
A meeting request a person sent cannot carry one, and costs no GET: a calendar-made booking is one Planon write and
one accept. A meeting the room itself organises may carry one, even when RoomSync never learnt it made it (the answer
to its create was lost): it is read whole, and paired, never made twice. Each ends with the steady-state check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from roomsync.connectors.graph import GraphClient
from tests.scenarios.graph_backend import GraphCalendar
from tests.scenarios.world import ANNA, BEN, F1, L1, World, at, span


class QuickGraphCalendar(GraphCalendar):
    """The Graph adapter with two attempts per request, so a lost answer is given up on in a fraction of a second."""

    def connection(self) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
        spec, secrets = super().connection()
        return {"graph": {**spec["graph"], "maxAttempts": 2}}, secrets


@pytest.fixture
async def exchange() -> AsyncIterator[World]:
    world = await World(QuickGraphCalendar()).start()
    try:
        yield world
        await world.assert_steady()
    finally:
        await world.stop()


def graph(world: World) -> tuple[GraphCalendar, GraphClient]:
    assert isinstance(world.calendar, GraphCalendar)
    (client,) = [c for c in world.pool.clients() if isinstance(c, GraphClient)]
    return world.calendar, client


def requests(client: GraphClient, room: str) -> dict[str, int]:
    """Requests a room's mailbox served, per operation (batched or not)."""
    return {op: n for (key, op, _), n in client.requests.by_room.items() if key == room and op != "$batch"}


async def test_o01_a_meeting_request_to_a_room_planon_leads_costs_one_planon_write_and_one_accept(
    exchange: World,
) -> None:
    _, client = graph(exchange)
    await exchange.sync()
    before = requests(client, L1.code)
    meeting = await exchange.outlook.book(BEN, [L1], "Budget", at(2, 10), at(2, 11), required=[ANNA])
    await exchange.sync()
    [reservation] = await exchange.reservations(L1)
    assert (reservation.subject, span(reservation), reservation.organizer) == ("Budget", "Wed 05 Mar 10:00-11:00", BEN)
    assert [kind for _, kind, _ in await exchange.outlook.answers(meeting)] == ["accepted"]
    spent = {op: n - before.get(op, 0) for op, n in requests(client, L1.code).items() if n != before.get(op, 0)}
    assert spent == {"delta": 1, "events.accept": 1}  # no GET: a person's meeting request carries no link


async def test_o02_a_create_whose_answer_was_lost_is_found_and_not_made_twice(exchange: World) -> None:
    sb, client = graph(exchange)
    await exchange.sync()
    await exchange.kiosk_book(F1, at(1, 9), at(1, 10), "Standup", requestor=ANNA)
    # Exchange makes the meeting, every answer to the POST is lost: RoomSync does not know it made it
    await sb.sb.admin.inject(reset=True, after=True, method="POST", path_contains="/events", count=4)
    failed = (await exchange.sync())["follow"].report
    assert failed is not None and [o.action.kind.value for o in failed.failed] == ["create"]
    await sb.sb.admin.clear_faults()
    assert len(await exchange.entries(F1)) == 1
    gets = requests(client, F1.code).get("events.get", 0)
    await exchange.sync()
    # the room organises it: it may carry RoomSync's link, so it is read whole (one GET) and paired by that link
    assert requests(client, F1.code).get("events.get", 0) == gets + 1
    [entry] = await exchange.entries(F1)
    [reservation] = await exchange.reservations(F1)
    assert (entry.subject, span(entry)) == ("Standup", "Tue 04 Mar 09:00-10:00")
    assert reservation.subject == "Standup"
