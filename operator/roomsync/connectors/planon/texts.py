"""The text formats RoomSync keeps in Planon free fields.

Planon has no documented REST field for a reservation's series, its occurrence identity or its attendees
(reference planon.md §1.10, §7), so the connector keeps them as text in configurable free fields. The formats are
iCalendar-like so a Planon user looking at the field can read them, and parsing never raises on what a person may
have typed there: a value that does not parse is treated as absent.

Series text (the recurrence field, the same on every reservation of the meeting)::

    TZID:Europe/Amsterdam
    DTSTART:20250106T090000          (local wall time of the first occurrence in TZID)
    DURATION:PT3600S
    RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10   (absent for a single meeting)
    X-ALL-DAY:TRUE                   (only for all-day meetings)

Occurrence id (the occurrence field, per reservation): the RECURRENCE-ID, i.e. the UTC start the rule gives that
occurrence, as ``20250113T080000Z``.

Attendees (the attendees field)::

    Required: a@example.com, b@example.com
    Optional: c@example.com
    … and 297 more                   (only when the list was shortened to fit the field)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from roomsync.model import (
    FieldLimits,
    Person,
    Recurrence,
    RecurrenceError,
    UnknownTimeZone,
    normalise_email,
    to_iana,
    zone,
)

_LOCAL_FORMAT: Final = "%Y%m%dT%H%M%S"
_UTC_FORMAT: Final = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class SeriesText:
    """What the recurrence field says: the series' zone, first start, duration, rule and all-day flag."""

    tz: str
    start: datetime  # UTC instant of the first occurrence the rule gives (DTSTART)
    duration: timedelta
    rule: Recurrence | None = None  # only the pattern; exceptions are never stored, they are the reservations
    all_day: bool = False

    def format(self) -> str:
        local = self.start.astimezone(zone(self.tz)).replace(tzinfo=None)
        lines = [f"TZID:{self.tz}", f"DTSTART:{local.strftime(_LOCAL_FORMAT)}"]
        lines.append(f"DURATION:PT{int(self.duration.total_seconds())}S")
        if self.rule is not None:
            lines.append(f"RRULE:{self.rule.rule()}")
        if self.all_day:
            lines.append("X-ALL-DAY:TRUE")
        return "\n".join(lines)

    @classmethod
    def parse(cls, text: str | None) -> SeriesText | None:
        """The parsed text, ``None`` when empty; raises ``ValueError`` when present but unreadable."""
        if not text or not text.strip():
            return None
        values: dict[str, str] = {}
        for raw in text.replace("\r", "\n").split("\n"):
            key, sep, value = raw.strip().partition(":")
            if sep:
                values[key.strip().upper()] = value.strip()
        try:
            tz = to_iana(values["TZID"])
            local = datetime.strptime(values["DTSTART"], _LOCAL_FORMAT)
            duration = _duration(values["DURATION"])
            rule = Recurrence.parse(values["RRULE"]) if values.get("RRULE") else None
        except (KeyError, ValueError, UnknownTimeZone, RecurrenceError) as exc:
            raise ValueError(f"series text is not readable: {exc}") from None
        start = local.replace(tzinfo=zone(tz)).astimezone(UTC)
        return cls(tz, start, duration, rule, values.get("X-ALL-DAY", "").upper() == "TRUE")


def _duration(text: str) -> timedelta:
    text = text.strip().upper()
    if not (text.startswith("PT") and text.endswith("S") and text[2:-1].isdigit()):
        raise ValueError(f"DURATION {text!r} is not PT<seconds>S")
    seconds = int(text[2:-1])
    if seconds <= 0:
        raise ValueError("DURATION must be positive")
    return timedelta(seconds=seconds)


def format_occurrence(original_start: datetime) -> str:
    return original_start.astimezone(UTC).strftime(_UTC_FORMAT)


def parse_occurrence(text: str | None) -> datetime | None:
    """The RECURRENCE-ID, ``None`` when empty; raises ``ValueError`` when present but unreadable."""
    if not text or not text.strip():
        return None
    try:
        return datetime.strptime(text.strip().upper(), _UTC_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"occurrence id {text!r} is not a UTC date-time like 20250113T080000Z") from None


def format_attendees(required: frozenset[Person], optional: frozenset[Person], left_out: int = 0) -> str:
    """The attendee text; ``left_out`` attendees that did not fit are counted in a last line a person can read."""
    lines = []
    if required:
        lines.append("Required: " + ", ".join(sorted(p.email for p in required)))
    if optional:
        lines.append("Optional: " + ", ".join(sorted(p.email for p in optional)))
    if left_out:
        lines.append(_more(left_out))
    return "\n".join(lines)


def _more(count: int) -> str:
    return f"… and {count} more"


#: What the attendee text needs beyond ``len(email) + 2`` per address (how :class:`~roomsync.model.FieldLimits`
#: counts): its labels and line breaks, less the separator the last address of each list does not have, and the
#: "… and N more" line for up to a million left out.
ATTENDEE_TEXT_OVERHEAD: Final = (len("Required: ") - 2) + (len("\nOptional: ") - 2) + len("\n" + _more(999_999))


def field_limits(description: int, attendees: int) -> FieldLimits:
    """What a booking may hold so that its Description and attendee text fit fields of these lengths."""
    return FieldLimits(subject=description, attendees=max(0, attendees - ATTENDEE_TEXT_OVERHEAD))


def parse_attendees(text: str | None) -> tuple[frozenset[Person], frozenset[Person]]:
    """Required and optional attendees; anything that is not an address is ignored (people type in this field)."""
    required: set[Person] = set()
    optional: set[Person] = set()
    for raw in (text or "").replace("\r", "\n").split("\n"):
        key, sep, value = raw.partition(":")
        if not sep:
            continue
        target = {"required": required, "optional": optional}.get(key.strip().casefold())
        if target is None:
            continue
        for candidate in value.replace(";", ",").split(","):
            try:
                target.add(Person(normalise_email(candidate)))
            except ValueError:
                continue
    return frozenset(required), frozenset(optional)
