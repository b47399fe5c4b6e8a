"""Shared test helpers: bookings made tersely, and a two-sided harness on in-memory stores."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from roomsync.connectors.memory import MemoryStore
from roomsync.engine import Policy
from roomsync.model import Booking, Person, RoomPair, Side, fingerprint, people
from roomsync.sync.cycle import CycleResult, run_cycle

NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a Monday
ROOMS = [
    RoomPair("MR-1", "mr-1@contoso.com"),
    RoomPair("MR-2", "mr-2@contoso.com"),
    RoomPair("MR-3", "mr-3@contoso.com"),
]


def booking(
    booking_id: str,
    hour: int = 9,
    *,
    day: int = 0,
    minutes: int = 60,
    subject: str = "Meeting",
    rooms: tuple[str, ...] = ("MR-1",),
    organizer: str = "alice@contoso.com",
    required: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
    **extra: object,
) -> Booking:
    start = NOW.replace(hour=hour) + timedelta(days=day)
    return Booking(
        id=booking_id,
        subject=subject,
        start=start,
        end=start + timedelta(minutes=minutes),
        timezone="Europe/Amsterdam",
        organizer=Person(organizer),
        required=people(required),
        optional=people(optional),
        rooms=frozenset(rooms),
        **extra,  # type: ignore[arg-type]
    )


@dataclass
class Harness:
    """Planon and calendar held in memory, synced with the operator's own cycle code."""

    policy: Policy = field(default_factory=Policy)
    planon: MemoryStore = field(default_factory=lambda: MemoryStore(Side.PLANON))
    calendar: MemoryStore = field(default_factory=lambda: MemoryStore(Side.CALENDAR))
    now: datetime = NOW

    def cycle(self, *, dry_run: bool = False) -> CycleResult:
        stores = {Side.PLANON: self.planon, Side.CALENDAR: self.calendar}
        return asyncio.run(run_cycle("test/rs", self.policy, ROOMS, stores, self.now, full=True, dry_run=dry_run))

    def writes(self) -> int:
        return self.planon.log.count() + self.calendar.log.count()

    def content(self, side: Side) -> Counter[str]:
        """The live bookings of a side, as a multiset of synced-field fingerprints."""
        store = self.planon if side is Side.PLANON else self.calendar
        window = self.policy.window(self.now)
        return Counter(fingerprint(b, window) for b in store.live() if b.overlaps(window))
