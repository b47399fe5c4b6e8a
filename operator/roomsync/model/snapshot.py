"""What one side looked like when it was read: the input of the reconcile engine."""

from __future__ import annotations

from dataclasses import dataclass

from roomsync.model.booking import Booking


@dataclass(frozen=True)
class SkippedItem:
    """A backend item that could not be translated into a booking; reported, never deleted."""

    room: str
    native_id: str
    reason: str


@dataclass(frozen=True)
class Snapshot:
    """The bookings of one side within the window.

    ``unreadable_rooms`` lists rooms whose read failed or was partial: nothing there may be deleted on the other
    side because it is missing here. ``skipped`` items exist but could not be translated; their peers are kept.
    ``series_to_extend`` agree in content but need rewriting to cover the window (see the field).
    """

    bookings: tuple[Booking, ...]
    unreadable_rooms: frozenset[str] = frozenset()
    skipped: tuple[SkippedItem, ...] = ()
    full: bool = True
    #: ids of open-ended series a backend can only hold as occurrences (Planon) whose stored occurrences end before
    #: the window does. Their content agrees with the peer, but the engine rewrites them from it, which extends the
    #: series as the window moves.
    series_to_extend: frozenset[str] = frozenset()

    @property
    def complete(self) -> bool:
        return not self.unreadable_rooms and not self.skipped
