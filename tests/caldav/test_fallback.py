"""A server without sync-collection: each cycle compares the ETags of a calendar-query over the window.

The server is the real Radicale behind :class:`~tests.caldav.proxy.NoSyncProxy`, which refuses only the
sync-collection REPORT (or never advertises it).
"""

from __future__ import annotations

import pytest

from tests.caldav.conftest import BEN, CARLA, R1, WINDOW, Rig, at, counts
from tests.caldav.proxy import NoSyncProxy


@pytest.mark.parametrize("mode", ["501", "403", "hide"])
async def test_a_server_without_sync_collection_is_read_by_comparing_etags(rig: Rig, mode: str) -> None:
    kept = rig.people.book(BEN, [R1], "Kept", at(1), at(1, 1))
    moved = rig.people.book(BEN, [R1], "Moved", at(2), at(2, 1))
    gone = rig.people.book(BEN, [R1], "Cancelled", at(3), at(3, 1))
    async with NoSyncProxy(rig.server.url, mode) as proxy:
        through = [{"room": room, "url": url.replace(rig.server.url, proxy.url)} for room, url in rig.calendars.items()]
        client = rig.client(url=proxy.url, calendars=through)
        store = rig.store(client)
        assert {b.id for b in (await store.read(WINDOW, full=True)).bookings} == {kept, moved, gone}
        client.requests.by_room.clear()

        for _ in range(2):  # nothing changed
            assert len((await store.read(WINDOW, full=False)).bookings) == 3
        refusals = {} if mode == "hide" else {f"REPORT sync-collection {mode}": 1}  # tried once, then never again
        assert counts(client, R1) == {**refusals, "REPORT calendar-query 207": 2}  # ETags only: no data fetched

        rig.people.edit(moved, start=at(2, 3), end=at(2, 4))
        rig.people.cancel(gone)
        added = rig.people.book(CARLA, [R1], "New", at(4), at(4, 1))
        client.requests.by_room.clear()
        snapshot = await store.read(WINDOW, full=False)
        assert {b.id: b.start for b in snapshot.bookings} == {kept: at(1), moved: at(2, 3), added: at(4)}
        assert counts(client, R1) == {"REPORT calendar-query 207": 1, "REPORT calendar-multiget 207": 1}
        await store.read(WINDOW, full=True)  # a full read does not try the refused report again either
        await store.read(WINDOW, full=False)
        assert set(proxy.refused.values()) == (set() if mode == "hide" else {1})  # once per calendar


async def test_a_server_error_for_a_sync_token_means_reading_everything(rig: Rig) -> None:
    booked = rig.people.book(BEN, [R1], "Kept", at(1), at(1, 1))
    async with NoSyncProxy(rig.server.url, "bad-token") as proxy:
        through = [{"room": room, "url": url.replace(rig.server.url, proxy.url)} for room, url in rig.calendars.items()]
        client = rig.client(url=proxy.url, calendars=through)
        store = rig.store(client)
        await store.read(WINDOW, full=True)
        client.requests.by_room.clear()
        snapshot = await store.read(WINDOW, full=False)
        assert [b.id for b in snapshot.bookings] == [booked] and snapshot.complete
        assert counts(client, R1) == {
            "REPORT sync-collection 500": 1,
            "PROPFIND 207": 1,
            "REPORT calendar-query 207": 1,
        }
