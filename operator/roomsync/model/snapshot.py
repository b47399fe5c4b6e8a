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
    ``needs_rewrite`` agree in content with their peer but must be written again from it (see the field).
    """

    bookings: tuple[Booking, ...]
    unreadable_rooms: frozenset[str] = frozenset()
    skipped: tuple[SkippedItem, ...] = ()
    full: bool = True
    #: ids of bookings whose content agrees with the peer but whose stored form must be written again from it: an
    #: open-ended series a backend holds as occurrences (Planon) that end before the window does (the rewrite
    #: extends it as the window moves), or copies of one meeting that disagree across rooms after a partial write
    #: (CalDAV keeps one copy per room calendar).
    needs_rewrite: frozenset[str] = frozenset()

    @property
    def complete(self) -> bool:
        return not self.unreadable_rooms and not self.skipped
