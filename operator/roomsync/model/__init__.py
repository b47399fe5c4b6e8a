"""The canonical model: what a booking is, independent of any backend. Imports nothing from the rest of RoomSync."""

from roomsync.model.booking import (
    Booking,
    Handle,
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
from roomsync.model.limits import NO_LIMITS, FieldLimits, fit, shortened
from roomsync.model.recurrence import Frequency, Occurrence, OccurrenceOverride, Recurrence, RecurrenceError
from roomsync.model.snapshot import SkippedItem, Snapshot
from roomsync.model.zones import UnknownTimeZone, to_iana, to_windows, zone

__all__ = [
    "NO_LIMITS",
    "Booking",
    "FieldLimits",
    "Frequency",
    "Handle",
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
    "fit",
    "normalise_email",
    "people",
    "shortened",
    "synced_fields",
    "to_iana",
    "to_windows",
    "zone",
]
