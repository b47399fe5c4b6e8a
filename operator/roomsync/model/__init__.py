"""The canonical model: what a booking is, independent of any backend. Imports nothing from the rest of RoomSync."""

from roomsync.model.booking import (
    Booking,
    Link,
    Person,
    Response,
    RoomPair,
    Side,
    Status,
    Window,
    normalise_email,
    people,
)
from roomsync.model.fingerprint import changed_fields, fingerprint, synced_fields
from roomsync.model.recurrence import Frequency, Occurrence, OccurrenceOverride, Recurrence, RecurrenceError
from roomsync.model.snapshot import SkippedItem, Snapshot
from roomsync.model.zones import UnknownTimeZone, to_iana, to_windows, zone

__all__ = [
    "Booking",
    "Frequency",
    "Link",
    "Occurrence",
    "OccurrenceOverride",
    "Person",
    "Recurrence",
    "RecurrenceError",
    "Response",
    "RoomPair",
    "Side",
    "SkippedItem",
    "Snapshot",
    "Status",
    "UnknownTimeZone",
    "Window",
    "changed_fields",
    "fingerprint",
    "normalise_email",
    "people",
    "synced_fields",
    "to_iana",
    "to_windows",
    "zone",
]
