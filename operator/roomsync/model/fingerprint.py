"""The fingerprint of exactly the synced fields.

Two bookings with the same fingerprint look the same to a person in every field RoomSync syncs. Anything a backend
adds on its own (change keys, response status, body, a zone spelled differently, a re-ordered attendee list) stays
out, so our own writes coming back never look like changes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from roomsync.model.booking import Booking, Window
from roomsync.model.recurrence import Recurrence
from roomsync.model.zones import to_iana, to_windows, zone

FINGERPRINT_LENGTH = 16


def _instant(booking: Booking, value: datetime) -> str:
    if booking.all_day:
        # An all-day booking is a run of dates in its own zone; UTC instants of midnight differ per zone.
        return value.astimezone(zone(booking.timezone)).date().isoformat()
    return value.strftime("%Y-%m-%dT%H:%MZ")


def _recurrence(booking: Booking, recurrence: Recurrence) -> dict[str, object]:
    return {
        "rule": recurrence.rule(),
        # Equivalent zones (Europe/Amsterdam vs the Windows "W. Europe Standard Time" read back as Europe/Berlin)
        # expand identically; compare them through their Windows name so a spelling never looks like a change.
        "tz": to_iana(to_windows(booking.timezone)),
        "exdates": sorted(_instant(booking, d) for d in recurrence.exdates),
        "overrides": [
            [_instant(booking, o.original_start), _instant(booking, o.start), _instant(booking, o.end), o.subject]
            for o in recurrence.overrides
        ],
    }


def synced_fields(booking: Booking, window: Window | None = None) -> dict[str, object]:
    """The synced content of a booking as plain data (also used to show what differs)."""
    recurrence = booking.recurrence
    if recurrence is not None and window is not None:
        recurrence = recurrence.clipped(window.start, window.end)
    return {
        "subject": booking.subject,
        "start": _instant(booking, booking.start),
        "end": _instant(booking, booking.end),
        "allDay": booking.all_day,
        "organizer": booking.organizer.email if booking.organizer else None,
        "required": sorted(p.email for p in booking.required),
        "optional": sorted(p.email for p in booking.optional),
        "rooms": sorted(booking.rooms),
        "recurrence": _recurrence(booking, recurrence) if recurrence else None,
    }


def fingerprint(booking: Booking, window: Window | None = None) -> str:
    """A short stable hash of :func:`synced_fields`."""
    data = json.dumps(synced_fields(booking, window), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()[:FINGERPRINT_LENGTH]


def changed_fields(a: Booking, b: Booking, window: Window | None = None) -> list[str]:
    """Names of the synced fields that differ, for reasons and for PATCH-only-what-changed writes."""
    left, right = synced_fields(a, window), synced_fields(b, window)
    return [name for name in left if left[name] != right[name]]
