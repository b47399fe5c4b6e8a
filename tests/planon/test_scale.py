"""A window of 10,000 reservations over 200 units is read completely, in few requests."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from roomsync.connectors.planon import PlanonClient
from roomsync.connectors.registry import StoreOptions
from roomsync.model import RoomPair, Window
from roomsync.sandbox.planon import PlanonSandbox
from tests.planon.conftest import sent

UNITS = 200
PER_UNIT = 50


async def test_ten_thousand_reservations_over_two_hundred_units(client: PlanonClient, sandbox: PlanonSandbox) -> None:
    base = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
    units = [{"code": f"BIG-{i:03d}", "property": "AMS", "opening": None, "maxMinutes": None} for i in range(UNITS)]
    reservations = []
    for u in range(UNITS):
        for n in range(PER_UNIT):
            start = base + timedelta(days=n, hours=u % 10)
            item = {
                "unit": f"BIG-{u:03d}",
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=30 + 15 * (n % 4))).isoformat(),
                "description": f"Meeting {u}-{n}",
                "requestor": "anna.devries@example.com" if n % 2 else None,
            }
            if u % 2 == 1 and n % 5 == 0:  # every fifth meeting of an odd unit also books the unit before it
                item["fields"] = {"FreeString1": f"pair-{u}-{n}"}
                reservations[-PER_UNIT]["fields"] = {"FreeString1": f"pair-{u}-{n}"}
                reservations[-PER_UNIT]["start"], reservations[-PER_UNIT]["end"] = item["start"], item["end"]
            reservations.append(item)
    await sandbox.admin.seed({"units": units, "reservations": reservations})
    store = client.store(
        [RoomPair(f"BIG-{i:03d}", f"big-{i:03d}@example.com") for i in range(UNITS)], StoreOptions("default/big")
    )
    window = Window(base - timedelta(hours=1), base + timedelta(days=PER_UNIT + 1))

    started = time.monotonic()
    snapshot = await store.read(window, full=True)
    elapsed = time.monotonic() - started

    assert snapshot.complete and snapshot.full
    pairs = UNITS // 2 * PER_UNIT // 5
    assert len(snapshot.bookings) == UNITS * PER_UNIT - pairs
    assert sum(len(b.rooms) for b in snapshot.bookings) == UNITS * PER_UNIT
    assert {room for b in snapshot.bookings for room in b.rooms} == {f"BIG-{i:03d}" for i in range(UNITS)}
    by_subject = {b.subject: b for b in snapshot.bookings}
    sample = by_subject["Meeting 7-3"]
    assert sample.start == base + timedelta(days=3, hours=7) and sample.duration == timedelta(minutes=75)
    assert sample.organizer is not None and sample.organizer.email == "anna.devries@example.com"
    pair = next(b for b in snapshot.bookings if b.id == "pair-3-5")
    assert pair.rooms == frozenset({"BIG-002", "BIG-003"}) and pair.handle.items.keys() == {"BIG-002", "BIG-003"}
    # 200 units in chunks of 100: two reservation reads; master data once (units, properties, persons)
    assert sent(client, "read/UsrReservationMeetingRoom") == 2
    assert sent(client, "read/ReservationUnit") == 2 and sent(client, "read/Person") == 1
    assert elapsed < 30, f"reading 10,000 reservations took {elapsed:.1f} s"
