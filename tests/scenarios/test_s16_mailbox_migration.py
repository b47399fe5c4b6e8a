"""Scenario 16: a room mailbox moves from Exchange on-premise (EWS) to Exchange Online (Graph).

The room's RoomSync state lives on its items - the link in the PS_PUBLIC_STRINGS property both APIs read - and on
the Planon reservations, whose links name the meeting's UID (Graph's iCalUId). A real mailbox move gives every item
a new id and ChangeKey; UIDs and named properties travel with the items. So after the move the room is taken out of
the on-premise RoomSync and put into one on a Graph Connection, and the pairs must survive on the links alone:
nothing created, nothing cancelled, nothing rewritten, every reservation kept.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from roomsync.config.references import DictSource, resolve
from roomsync.config.roomsync import RoomSyncConfig
from roomsync.engine import ActionKind
from roomsync.model import Side
from roomsync.sandbox.ews.render import change_key
from roomsync.sync.runner import RoomSyncRunner
from tests.scenarios.ews_backend import EwsCalendar
from tests.scenarios.world import ANNA, BEN, F1, F2, F3, F4, World, _secrets_by_name, at, local, span


@pytest.fixture
async def onprem() -> AsyncIterator[World]:
    world = await World(EwsCalendar()).start()
    try:
        yield world
        await world.assert_steady(cycles=2)
    finally:
        await world.stop()


async def _move_room_online(world: World) -> None:
    """What the administrators do after the move: F1 leaves the on-premise RoomSync for one on Exchange Online."""
    calendar = world.calendar
    assert isinstance(calendar, EwsCalendar)
    planon = {"planon": world.planon.connection_spec() | dict(world.planon_settings)}
    graph_spec, graph_secrets = calendar.exchange.connection_spec()
    ews_spec, ews_secrets = calendar.connection()
    secrets = {**world.planon.demo_secrets(), **ews_secrets, **graph_secrets}

    source = DictSource(
        {
            ("scenarios", "planon"): {"spec": planon},
            ("scenarios", "calendar"): {"spec": ews_spec},
            ("scenarios", "exchange-online"): {"spec": {"graph": graph_spec}},
        },
        _secrets_by_name("scenarios", secrets),
    )

    async def runner(name: str, rooms: tuple[Any, ...], connection: str) -> RoomSyncRunner:
        manifest = world._manifest(name, "Calendar", rooms)
        manifest["spec"]["calendar"] = {"connectionRef": connection}
        config = RoomSyncConfig.from_manifest(manifest)
        return await RoomSyncRunner.open(config, world.pool, await resolve(source, config))

    world.runners["follow"] = await runner("follow", (F2, F3, F4), "calendar")
    world.runners["online"] = await runner("online", (F1,), "exchange-online")


async def test_s16_a_room_moved_to_exchange_online_keeps_every_pair_on_its_links(onprem: World) -> None:
    world = onprem
    # meetings of every shape in F1, made on both sides, synced on-premise
    review = await world.outlook.book(BEN, [F1], "Design review", at(1, 10), at(1, 11), required=[ANNA])
    weekly = await world.outlook.book(BEN, [F1], "Weekly 1:1", at(2, 9), at(2, 9, 30), rrule="FREQ=WEEKLY;COUNT=6")
    third = at(2 + 14, 9)
    await world.outlook.move_occurrence(
        weekly, third, third + timedelta(hours=4), third + timedelta(hours=4, minutes=30)
    )
    await world.outlook.cancel_occurrence(weekly, at(2 + 21, 9))
    await world.kiosk_book(F1, at(3, 14), at(3, 15), "Facilities walk-through", requestor=ANNA)
    series = await world.kiosk_book(
        F1, at(1, 16), at(1, 17), "Weekly sales", requestor=ANNA, rrule="FREQ=WEEKLY;COUNT=4"
    )
    await world.kiosk_edit(series[1], start=at(8, 17), end=at(8, 18))
    await world.sync()
    await world.sync()

    reservations = {r.syscode: r for r in await world.reservations(F1, live=False)}
    entries = [(e.meeting, span(e), e.subject) for e in await world.entries(F1)]
    assert len([r for r in reservations.values() if r.live]) == 1 + 5 + 1 + 4
    assert {e[0] for e in entries} >= {review, weekly}
    mailbox = world.calendar.sb.state.mailboxes[F1.mailbox]  # type: ignore[attr-defined]
    before = {e.ical_uid: (e.id, change_key(e)) for e in mailbox.events.values()}

    # the move: every item gets a new id and ChangeKey; UIDs and extended properties travel with the items
    moved = await world.calendar.exchange.admin.move_mailbox(F1.mailbox)  # type: ignore[attr-defined]
    after = {e.ical_uid: (e.id, change_key(e)) for e in mailbox.events.values()}
    assert set(moved) == {ids[0] for ids in before.values()} and set(after) == set(before)
    assert all(after[uid][0] != before[uid][0] and after[uid][1] != before[uid][1] for uid in before)

    await _move_room_online(world)
    results = await world.sync()
    online = results["online"]
    assert world.runners["online"].stores[Side.CALENDAR].backend == "graph"
    assert online.error is None and online.plan is not None, online.message
    read = online.snapshots[Side.CALENDAR].bookings
    planon = online.snapshots[Side.PLANON].bookings
    assert {b.id for b in read} == {b.link.peer_id for b in planon if b.link} and {review, weekly} <= {
        b.id for b in read
    }
    made_in_planon = [b for b in read if b.id not in (review, weekly)]
    assert made_in_planon and all(b.link is not None for b in made_in_planon)  # the room's items kept their links
    writes = [a.describe() for a in online.plan.actions if a.kind is not ActionKind.RELINK]
    assert writes == [], f"the move must not look like a change: {writes}"
    assert online.plan.actions == (), [a.describe() for a in online.plan.actions]
    assert results["follow"].plan is not None and results["follow"].plan.actions == ()

    # nothing duplicated, nothing lost: the same reservations with the same times and links, the same calendar
    now = {r.syscode: r for r in await world.reservations(F1, live=False)}
    assert now.keys() == reservations.keys()
    assert all(
        (now[s].start, now[s].end, now[s].state, now[s].meeting) == (r.start, r.end, r.state, r.meeting)
        for s, r in reservations.items()
    )
    assert [(e.meeting, span(e), e.subject) for e in await world.entries(F1)] == entries
    assert len(mailbox.events) == len(before)

    # and the room keeps syncing through Graph: an edit in Outlook reaches Planon, one write
    await world.outlook.edit(review, start=at(1, 13), end=at(1, 14))
    results = await world.sync()
    online = results["online"]
    assert online.report is not None and online.report.counters["updated"] == 1
    [moved_review] = [r for r in await world.reservations(F1) if r.subject == "Design review"]
    assert local(moved_review.start) == "Tue 04 Mar 13:00"
