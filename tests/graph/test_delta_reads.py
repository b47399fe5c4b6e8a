"""Which new delta entries are read whole (issue 17, "calendar-made = 1 Planon write + 1 accept").

Graph's calendarView/delta returns no extended properties, so an entry cannot show a RoomSync link. The connector
GETs (with ``$expand``) a new item only where a link can be: an item a room of ours organises (our creates, also one
whose answer was lost), an id RoomSync linked, anything not whole. A meeting request a person sent is taken as its
entry says. Requests are counted by the client, as the sandbox served them.
"""

from __future__ import annotations

import pytest

from roomsync.connectors.base import BackendUnavailable
from roomsync.connectors.graph import GraphClient
from roomsync.connectors.graph.store import GraphStore
from roomsync.model import Booking, Link, Person, Response
from roomsync.sandbox.graph import GraphSandbox

from .conftest import ROOM1, ROOM3, WINDOW, ClientFactory, at, store_of
from .conftest import planon_booking as graph_planon_booking

ALICE = "alice@contoso.com"


def gets(client: GraphClient, room: str = "MR-1") -> int:
    return client.requests.by_room[(room, "events.get", "200")]


def planon_booking(**overrides: object) -> Booking:
    return graph_planon_booking("RES-9", **overrides)


async def test_a_meeting_request_from_a_person_costs_no_get(
    sandbox: GraphSandbox, client: GraphClient, store: GraphStore
) -> None:
    await sandbox.admin.set_processing(ROOM3, add_organizer_to_subject=False, delete_subject=False)
    await store.read(WINDOW, full=True)
    uid = await sandbox.admin.book_in_outlook(ALICE, [ROOM3], "Interviews", at(days=2), at(days=2, hours=1))
    (request,) = (await store.read(WINDOW, full=False)).bookings
    assert gets(client, "MR-3") == 0  # the delta entry is the whole meeting request: nothing fetched
    assert (request.id, request.subject, request.organizer) == (uid, "Interviews", Person(ALICE, "Alice"))
    assert request.link is None and (request.start, request.end) == (at(days=2), at(days=2, hours=1))
    assert request.rooms == {"MR-3"} and request.awaiting_response  # AutoUpdate: Planon in the lead decides
    # the version the entry carried is the one Graph holds: answering with it is not refused
    await store.respond(request, Response.ACCEPT, "Reserved in Planon")
    (answered,) = (await store.read(WINDOW, full=False)).bookings
    assert not answered.awaiting_response and gets(client, "MR-3") == 0


async def test_a_room_organised_item_whose_create_answer_was_lost_is_fetched_and_not_made_twice(
    sandbox: GraphSandbox, make_client: ClientFactory
) -> None:
    client = make_client(maxAttempts=2)
    store = store_of(client)
    await store.read(WINDOW, full=True)
    # every attempt of the POST is executed, and every answer is lost: the cache never learns of the event
    await sandbox.admin.inject(reset=True, after=True, method="POST", path_contains="/events", count=10)
    with pytest.raises(BackendUnavailable):
        await store.create(planon_booking())
    await sandbox.admin.clear_faults()
    assert len(await sandbox.admin.room_events(ROOM1)) == 1
    before = gets(client)
    (found,) = (await store.read(WINDOW, full=False)).bookings
    assert gets(client) == before + 1  # organised by the room: it may carry our link, so it is read whole
    assert found.link == Link("RES-9", "fp1") and found.subject == "Board meeting"
    again = await store.create(planon_booking())  # the engine's retry finds the same event (transactionId)
    assert again.id == found.id and len(await sandbox.admin.room_events(ROOM1)) == 1


async def test_a_copy_another_room_of_ours_organises_is_fetched(
    sandbox: GraphSandbox, client: GraphClient, store: GraphStore
) -> None:
    await store.read(WINDOW, full=True)
    await store.create(planon_booking(rooms=frozenset({"MR-1", "MR-2"})))
    before = gets(client, "MR-2")
    (booking,) = (await store.read(WINDOW, full=False)).bookings
    assert booking.rooms == {"MR-1", "MR-2"}
    assert gets(client, "MR-2") == before + 1  # MR-2's copy, organised by MR-1: read whole
    assert gets(client, "MR-1") == 0  # MR-1's own create was written through to its cache


async def test_an_item_roomsync_linked_is_fetched_when_it_comes_back_into_the_window(
    sandbox: GraphSandbox, client: GraphClient, store: GraphStore
) -> None:
    uid = await sandbox.admin.book_in_outlook(ALICE, [ROOM1], "Review", at(days=2), at(days=2, hours=1))
    (read,) = (await store.read(WINDOW, full=True)).bookings
    await store.relink(read, Link("RES-3", "fp3"))
    await sandbox.admin.edit(uid, start=at(days=100), end=at(days=100, hours=1))  # out of the window
    assert (await store.read(WINDOW, full=False)).bookings == ()
    await sandbox.admin.edit(uid, start=at(days=3), end=at(days=3, hours=1))  # and back: a new entry
    before = gets(client)
    (back,) = (await store.read(WINDOW, full=False)).bookings
    assert gets(client) == before + 1 and back.link == Link("RES-3", "fp3")  # read whole, with the link


async def test_an_entry_that_carries_the_extended_properties_needs_no_get(
    sandbox: GraphSandbox, make_client: ClientFactory
) -> None:
    await sandbox.admin.set_delta_extended_properties(True)
    reader, writer = make_client(), make_client()  # the writer is another process: the reader's cache never saw it
    store = store_of(reader)
    await store.read(WINDOW, full=True)
    made = await store_of(writer).create(planon_booking())
    (found,) = (await store.read(WINDOW, full=False)).bookings
    assert gets(reader) == 0  # room-organised and unknown, yet its entry says what its link is
    assert (found.id, found.link) == (made.id, Link("RES-9", "fp1"))
    await store_of(writer).relink(made, Link("RES-9", "fp2", seq=2))  # a partial entry carries them too
    (relinked,) = (await store.read(WINDOW, full=False)).bookings
    assert relinked.link == Link("RES-9", "fp2", seq=2) and gets(reader) == 0
