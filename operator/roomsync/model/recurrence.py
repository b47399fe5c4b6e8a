"""Recurring bookings: an RFC 5545 RRULE subset plus cancelled and modified occurrences.

The subset is what Exchange, Google and Planon can all express: FREQ (DAILY/WEEKLY/MONTHLY/YEARLY), INTERVAL,
BYDAY (with ordinals), BYMONTHDAY, BYMONTH, BYSETPOS, COUNT, UNTIL and WKST. Anything else is refused with a clear
error instead of being half-synced. Expansion is delegated to python-dateutil; occurrences are computed in the
booking's own zone so a weekly 09:00 meeting stays at 09:00 across a DST change.

The RRULE text is read here rather than with icalendar's ``vRecur`` (which the CalDAV connector uses for its wire
format): ``vRecur.from_ical`` silently drops a part without ``=`` (``FREQ=WEEKLY;COUNT``), accepts every RFC 5545
part (BYHOUR, BYWEEKNO, RSCALE, SKIP) that no backend can honour, and writes parts in its own order, while the model
must refuse naming the part at fault and keep one canonical text (:meth:`Recurrence.rule`), which link fingerprints
hash. ``tests/model/test_model.py`` checks that both readers agree on every rule of the subset.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from dateutil.rrule import rrulestr

from roomsync.model.zones import require_aware, zone

UTC: Final = UTC
WEEKDAYS: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_BYDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
#: A generous ceiling so an absurd rule (FREQ=DAILY for a century) cannot exhaust memory during expansion.
MAX_OCCURRENCES: Final = 5000


class RecurrenceError(ValueError):
    """An RRULE outside the supported subset, or inconsistent with itself."""


class Frequency(StrEnum):
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    YEARLY = "YEARLY"


@dataclass(frozen=True, order=True)
class OccurrenceOverride:
    """One occurrence moved or renamed; ``original_start`` is where the rule puts it (its RECURRENCE-ID)."""

    original_start: datetime
    start: datetime
    end: datetime
    subject: str | None = None

    def __post_init__(self) -> None:
        for name in ("original_start", "start", "end"):
            object.__setattr__(self, name, require_aware(getattr(self, name), name).astimezone(UTC))
        if self.end <= self.start:
            raise RecurrenceError(f"override of {self.original_start.isoformat()}: end must be after start")


@dataclass(frozen=True)
class Occurrence:
    """One expanded instance of a series."""

    original_start: datetime
    start: datetime
    end: datetime
    subject: str | None = None


@dataclass(frozen=True)
class Recurrence:
    """The pattern of a series and its exceptions. Times are UTC instants; the zone lives on the booking."""

    freq: Frequency
    interval: int = 1
    by_day: tuple[str, ...] = ()
    by_month_day: tuple[int, ...] = ()
    by_month: tuple[int, ...] = ()
    by_set_pos: tuple[int, ...] = ()
    count: int | None = None
    until: datetime | None = None
    wkst: str = "MO"
    exdates: frozenset[datetime] = field(default_factory=frozenset)
    overrides: tuple[OccurrenceOverride, ...] = ()

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise RecurrenceError("INTERVAL must be a positive whole number")
        if self.count is not None and self.until is not None:
            raise RecurrenceError("COUNT and UNTIL cannot both be given")
        if self.count is not None and not 1 <= self.count <= MAX_OCCURRENCES:
            raise RecurrenceError(f"COUNT must be between 1 and {MAX_OCCURRENCES}")
        if self.wkst not in WEEKDAYS:
            raise RecurrenceError(f"WKST must be one of {', '.join(WEEKDAYS)}")
        for day in self.by_day:
            if not _BYDAY.match(day):
                raise RecurrenceError(f"BYDAY value {day!r} is not a weekday with an optional ordinal")
        _check_range("BYMONTHDAY", self.by_month_day, 31, allow_negative=True)
        _check_range("BYMONTH", self.by_month, 12, allow_negative=False)
        _check_range("BYSETPOS", self.by_set_pos, 366, allow_negative=True)
        if self.until is not None:
            object.__setattr__(self, "until", require_aware(self.until, "UNTIL").astimezone(UTC))
        object.__setattr__(self, "exdates", frozenset(require_aware(d, "EXDATE").astimezone(UTC) for d in self.exdates))
        object.__setattr__(self, "overrides", tuple(sorted(self.overrides)))

    @classmethod
    def parse(cls, rule: str) -> Recurrence:
        """Parse ``FREQ=WEEKLY;BYDAY=MO;COUNT=10`` (an optional ``RRULE:`` prefix is accepted)."""
        text = rule.strip()
        if text.upper().startswith("RRULE:"):
            text = text[6:]
        parts: dict[str, str] = {}
        for chunk in filter(None, text.split(";")):
            key, sep, value = chunk.partition("=")
            if not sep or not value:
                raise RecurrenceError(f"RRULE part {chunk!r} is not KEY=VALUE")
            parts[key.strip().upper()] = value.strip().upper()
        unknown = set(parts) - {
            "FREQ",
            "INTERVAL",
            "BYDAY",
            "BYMONTHDAY",
            "BYMONTH",
            "BYSETPOS",
            "COUNT",
            "UNTIL",
            "WKST",
        }
        if unknown:
            raise RecurrenceError(f"RRULE parts not supported: {', '.join(sorted(unknown))}")
        if "FREQ" not in parts:
            raise RecurrenceError("RRULE needs FREQ")
        try:
            freq = Frequency(parts["FREQ"])
        except ValueError:
            raise RecurrenceError(f"FREQ={parts['FREQ']} is not supported (DAILY, WEEKLY, MONTHLY, YEARLY)") from None
        return cls(
            freq=freq,
            interval=_int(parts.get("INTERVAL", "1"), "INTERVAL"),
            by_day=tuple(filter(None, parts.get("BYDAY", "").split(","))),
            by_month_day=_ints(parts.get("BYMONTHDAY"), "BYMONTHDAY"),
            by_month=_ints(parts.get("BYMONTH"), "BYMONTH"),
            by_set_pos=_ints(parts.get("BYSETPOS"), "BYSETPOS"),
            count=_int(parts["COUNT"], "COUNT") if "COUNT" in parts else None,
            until=_until(parts["UNTIL"]) if "UNTIL" in parts else None,
            wkst=parts.get("WKST", "MO"),
        )

    def rule(self) -> str:
        """The canonical RRULE text: fixed part order, defaults left out, so equal rules compare equal."""
        parts = [f"FREQ={self.freq.value}"]
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.by_day:
            parts.append("BYDAY=" + ",".join(self.by_day))
        for name, values in (
            ("BYMONTHDAY", self.by_month_day),
            ("BYMONTH", self.by_month),
            ("BYSETPOS", self.by_set_pos),
        ):
            if values:
                parts.append(f"{name}=" + ",".join(str(v) for v in values))
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if self.until is not None:
            parts.append("UNTIL=" + self.until.strftime("%Y%m%dT%H%M%SZ"))
        if self.wkst != "MO":
            parts.append(f"WKST={self.wkst}")
        return ";".join(parts)

    @property
    def open_ended(self) -> bool:
        return self.count is None and self.until is None

    def starts(self, first_start: datetime, tz: str, limit: datetime) -> list[datetime]:
        """Original start instants of the rule (exceptions ignored) from ``first_start`` up to ``limit``."""
        local_zone = zone(tz)
        dtstart = require_aware(first_start, "series start").astimezone(local_zone).replace(tzinfo=None)
        rule = self.rule()
        if self.until is not None:
            local_until = self.until.astimezone(local_zone).replace(tzinfo=None)
            rule = rule.replace(
                "UNTIL=" + self.until.strftime("%Y%m%dT%H%M%SZ"), "UNTIL=" + local_until.strftime("%Y%m%dT%H%M%S")
            )
        local_limit = limit.astimezone(local_zone).replace(tzinfo=None)
        result: list[datetime] = []
        for local in rrulestr(rule, dtstart=dtstart):
            if local > local_limit or len(result) >= MAX_OCCURRENCES:
                break
            result.append(local.replace(tzinfo=local_zone).astimezone(UTC))
        return result

    def occurrences(
        self, first_start: datetime, duration: timedelta, tz: str, window_start: datetime, window_end: datetime
    ) -> list[Occurrence]:
        """Occurrences overlapping the window, with cancelled ones removed and modified ones moved."""
        overrides = {o.original_start: o for o in self.overrides}
        result = []
        for original in self.starts(first_start, tz, window_end + timedelta(days=1) + duration):
            if original in self.exdates:
                continue
            override = overrides.get(original)
            occurrence = (
                Occurrence(original, override.start, override.end, override.subject)
                if override
                else Occurrence(original, original, original + duration)
            )
            if occurrence.end > window_start and occurrence.start < window_end:
                result.append(occurrence)
        return sorted(result, key=lambda o: o.start)

    def clipped(self, window_start: datetime, window_end: datetime) -> Recurrence:
        """Keep only the exceptions whose original start falls inside the window.

        Backends only know exceptions in the window they were read for (Planon holds one reservation per occurrence
        and only inside the window), so fingerprints compare the clipped form.
        """

        def inside(moment: datetime) -> bool:
            return window_start <= moment < window_end

        return replace(
            self,
            exdates=frozenset(d for d in self.exdates if inside(d)),
            overrides=tuple(o for o in self.overrides if inside(o.original_start)),
        )

    def with_exceptions(
        self, exdates: Iterable[datetime] = (), overrides: Iterable[OccurrenceOverride] = ()
    ) -> Recurrence:
        return replace(self, exdates=frozenset(exdates), overrides=tuple(overrides))


def _check_range(name: str, values: tuple[int, ...], top: int, *, allow_negative: bool) -> None:
    for value in values:
        low_ok = value >= 1 or (allow_negative and value <= -1)
        if not low_ok or abs(value) > top:
            raise RecurrenceError(f"{name} value {value} is out of range")


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise RecurrenceError(f"{name}={value} is not a whole number") from None


def _ints(value: str | None, name: str) -> tuple[int, ...]:
    return tuple(_int(v, name) for v in value.split(",")) if value else ()


def _until(value: str) -> datetime:
    for fmt in ("%Y%m%dT%H%M%SZ", "%Y%m%dT%H%M%S", "%Y%m%d"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise RecurrenceError(f"UNTIL={value} is not an RFC 5545 date or UTC date-time")
