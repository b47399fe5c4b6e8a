"""The fingerprint of exactly the synced fields.

Two bookings with the same fingerprint look the same to a person in every field RoomSync syncs. Anything a backend
adds on its own (change keys, response status, body, a zone spelled differently, a re-ordered attendee list) stays
out, so our own writes coming back never look like changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from typing import Any, TypeVar

from roomsync.model.booking import Booking, Person, Window
from roomsync.model.limits import FieldLimits, fit
from roomsync.model.recurrence import WEEKDAYS, Frequency, Recurrence
from roomsync.model.zones import to_iana, to_windows, zone

_V = TypeVar("_V")
FINGERPRINT_LENGTH = 16
#: The encoding every fingerprint was defined with; one shared instance (building an encoder per call is costly).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
#: Formatted instants: bookings share start and end times (whole hours), and each is formatted every cycle.
_INSTANTS: dict[datetime, str] = {}
_INSTANTS_LIMIT = 50_000


def _instant(booking: Booking, value: datetime) -> str:
    if booking.all_day:
        # An all-day booking is a run of dates in its own zone; UTC instants of midnight differ per zone.
        return value.astimezone(zone(booking.timezone)).date().isoformat()
    if value.tzinfo is not UTC or value.year < 1000:  # strftime does not zero-pad such years; isoformat does
        return value.strftime("%Y-%m-%dT%H:%MZ")
    # Keyed by UTC values only: equal instants in other zones would print differently.
    text = _INSTANTS.get(value)
    if text is None:
        text = value.isoformat(timespec="minutes")[:16] + "Z"  # strftime's text at a fraction of the cost
        if len(_INSTANTS) >= _INSTANTS_LIMIT:
            _INSTANTS.clear()
        _INSTANTS[value] = text
    return text


def _explicit(booking: Booking, recurrence: Recurrence) -> Recurrence:
    """The rule with the parts RFC 5545 takes from DTSTART spelled out.

    ``FREQ=WEEKLY`` (Planon's text) and ``FREQ=WEEKLY;BYDAY=TU`` (Graph always names the days) are the same series
    when the first occurrence is a Tuesday; without this they fingerprint differently and every series made on one
    side looks changed on the other after its first sync.
    """
    if recurrence.by_day or recurrence.by_month_day or recurrence.by_set_pos:
        return recurrence
    first = booking.start.astimezone(zone(booking.timezone))
    if recurrence.freq is Frequency.WEEKLY:
        return replace(recurrence, by_day=(WEEKDAYS[first.weekday()],))
    if recurrence.freq is Frequency.MONTHLY:
        return replace(recurrence, by_month_day=(first.day,))
    if recurrence.freq is Frequency.YEARLY:
        return replace(recurrence, by_month=recurrence.by_month or (first.month,), by_month_day=(first.day,))
    return recurrence


def _recurrence(booking: Booking, recurrence: Recurrence) -> dict[str, object]:
    return {
        "rule": _explicit(booking, recurrence).rule(),
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


def canonical_text(booking: Booking, window: Window | None = None) -> str:
    """:func:`synced_fields` as sorted-key compact JSON: the text a fingerprint hashes.

    Fingerprints are stored on both sides, so this text must never change. A booking without recurrence (nearly
    all of them) is written out directly, byte for byte what ``json.dumps(..., sort_keys=True)`` gives, because the
    engine fingerprints every booking of both sides every cycle (docs/performance.md); the rest go through the
    JSON encoder.
    """
    if booking.recurrence is not None:
        return _ENCODER.encode(synced_fields(booking, window))
    text = encode_basestring_ascii
    organizer = _email_text(booking.organizer.email) if booking.organizer else "null"
    return (
        # instants are digits, dashes, colons, T and Z: quoting them is their JSON encoding
        f'{{"allDay":{"true" if booking.all_day else "false"},"end":"{_instant(booking, booking.end)}",'
        f'"optional":[{_set_text(booking.optional, _emails)}],"organizer":{organizer},"recurrence":null,'
        f'"required":[{_set_text(booking.required, _emails)}],"rooms":[{_set_text(booking.rooms, _texts)}],'
        f'"start":"{_instant(booking, booking.start)}","subject":{text(booking.subject)}}}'
    )


#: The JSON text of the sets bookings share (people, rooms: the model hands out one object per distinct set), so a
#: set is encoded once, not once per booking and cycle; bounded like the other caches.
_SET_TEXTS: dict[frozenset[Any] | str, str] = {}


def _set_text(values: frozenset[_V], render: Callable[[frozenset[_V]], str]) -> str:
    text = _SET_TEXTS.get(values)
    if text is None:
        text = render(values)
        if len(_SET_TEXTS) >= _INSTANTS_LIMIT:
            _SET_TEXTS.clear()
        _SET_TEXTS[values] = text
    return text


def _email_text(email: str) -> str:
    text = _SET_TEXTS.get(email)  # strings and sets share the bounded table
    if text is None:
        text = encode_basestring_ascii(email)
        if len(_SET_TEXTS) >= _INSTANTS_LIMIT:
            _SET_TEXTS.clear()
        _SET_TEXTS[email] = text
    return text


def _emails(persons: frozenset[Person]) -> str:
    if not persons:
        return ""
    if len(persons) == 1:
        for person in persons:
            return encode_basestring_ascii(person.email)
    return ",".join([encode_basestring_ascii(e) for e in sorted([p.email for p in persons])])


def _texts(values: frozenset[str]) -> str:
    if len(values) == 1:
        for value in values:
            return encode_basestring_ascii(value)
    return ",".join([encode_basestring_ascii(v) for v in sorted(values)])


def same_synced_fields(a: Booking, b: Booking) -> bool:
    """Whether ``a`` and ``b`` have equal synced fields, so equal fingerprints, compared without hashing.

    ``False`` only means "not shown equal here" (a series, or values that differ but may still render alike): hash
    them. The engine uses it to fingerprint one side of a pair in sync instead of both.
    """
    return (
        a.recurrence is None
        and b.recurrence is None
        and a.start == b.start
        and a.end == b.end
        and a.subject == b.subject
        and a.all_day == b.all_day
        and (not a.all_day or a.timezone == b.timezone)
        and a.organizer == b.organizer
        and a.rooms == b.rooms
        and a.required == b.required
        and a.optional == b.optional
    )


def fingerprint(booking: Booking, window: Window | None = None) -> str:
    """A short stable hash of :func:`synced_fields`."""
    return hashlib.sha256(canonical_text(booking, window).encode()).hexdigest()[:FINGERPRINT_LENGTH]


def fitted_fingerprint(
    booking: Booking,
    limits: FieldLimits,
    window: Window | None,
    *,
    like: Booking | None = None,
    like_fp: str | None = None,
) -> str:
    """``fingerprint(fit(booking, limits), window)``, remembered on the booking.

    A booking is immutable, so its fingerprint for the same limits (and, for a series, whose exceptions are clipped
    to it, the same window) never changes: an unchanged item handed back as the same object costs the engine a
    comparison instead of a hash every cycle (docs/performance.md). A single meeting's fingerprint does not depend on
    the window, so the rolling window does not invalidate it. ``like`` with its fingerprint ``like_fp`` (for the
    same limits and window) spares the hash when :func:`same_synced_fields` shows the two equal: the two sides of
    a pair in sync.
    """
    key: object = limits if booking.recurrence is None else (limits, window)
    memo = booking._fingerprint
    if memo is not None and (memo[0] is key or memo[0] == key):
        return memo[1]
    if like is not None and like_fp is not None and same_synced_fields(like, booking):
        value = like_fp
    else:
        value = fingerprint(fit(booking, limits), window)
    object.__setattr__(booking, "_fingerprint", (key, value))
    return value


def changed_fields(a: Booking, b: Booking, window: Window | None = None) -> list[str]:
    """Names of the synced fields that differ, for reasons and for PATCH-only-what-changed writes."""
    left, right = synced_fields(a, window), synced_fields(b, window)
    return [name for name in left if left[name] != right[name]]


#: The synced fields in the groups a person edits together, for keeping edits made on both sides to different
#: groups. A schedule (start, end, all-day, recurrence) is one edit: its parts only make sense together.
FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "subject": ("subject",),
    "schedule": ("start", "end", "allDay", "recurrence"),
    "organizer": ("organizer",),
    "required": ("required",),
    "optional": ("optional",),
    "rooms": ("rooms",),
}
_DIGEST = 4  # hex characters per group: 6 groups make 24 characters of link text


def field_digests(booking: Booking, window: Window | None = None) -> str:
    """A short hash per group of :data:`FIELD_GROUPS`, concatenated (what a link stores next to the fingerprint)."""
    values = synced_fields(booking, window)
    return "".join(
        hashlib.sha256(_ENCODER.encode([values[name] for name in names]).encode()).hexdigest()[:_DIGEST]
        for names in FIELD_GROUPS.values()
    )


def changed_groups(booking: Booking, digests: str, window: Window | None = None) -> frozenset[str] | None:
    """The groups whose digest differs from ``digests`` (a link's); ``None`` when the link has no digests."""
    if len(digests) != _DIGEST * len(FIELD_GROUPS):
        return None
    mine = field_digests(booking, window)
    return frozenset(
        group
        for index, group in enumerate(FIELD_GROUPS)
        if mine[index * _DIGEST : (index + 1) * _DIGEST] != digests[index * _DIGEST : (index + 1) * _DIGEST]
    )
