"""Expansion of Graph ``patternedRecurrence`` objects, written independently of the connector's own mapping.

The emulator must not share code with the translation it is meant to test, so this module goes from the Graph JSON
straight to dateutil, the way Exchange expands a series in the series' own time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from dateutil import rrule

from roomsync.sandbox.graph.zones import UnknownTimeZone, zone

UTC = UTC
PATTERN_TYPES = ("daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly")
RANGE_TYPES = ("endDate", "noEnd", "numbered")
DAYS = {
    "monday": rrule.MO,
    "tuesday": rrule.TU,
    "wednesday": rrule.WE,
    "thursday": rrule.TH,
    "friday": rrule.FR,
    "saturday": rrule.SA,
    "sunday": rrule.SU,
}
INDEXES = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
FREQS = {
    "daily": rrule.DAILY,
    "weekly": rrule.WEEKLY,
    "absoluteMonthly": rrule.MONTHLY,
    "relativeMonthly": rrule.MONTHLY,
    "absoluteYearly": rrule.YEARLY,
    "relativeYearly": rrule.YEARLY,
}
#: Exchange stops expanding somewhere; the emulator stops here (plenty for a sync window).
MAX_INSTANCES = 2000


class InvalidRecurrence(ValueError):
    """Graph answers these with 400 ErrorInvalidRequest ("even if a field is ignored, it is still validated")."""


def validate(recurrence: dict[str, Any]) -> None:
    pattern, rng = recurrence.get("pattern") or {}, recurrence.get("range") or {}
    if pattern.get("type") not in PATTERN_TYPES:
        raise InvalidRecurrence(f"recurrence pattern type {pattern.get('type')!r} is invalid")
    if rng.get("type") not in RANGE_TYPES:
        raise InvalidRecurrence(f"recurrence range type {rng.get('type')!r} is invalid")
    interval = pattern.get("interval")
    if not isinstance(interval, int) or interval < 1:
        raise InvalidRecurrence("recurrence pattern interval must be a positive integer")
    for day in pattern.get("daysOfWeek") or []:
        if str(day).lower() not in DAYS:
            raise InvalidRecurrence(f"daysOfWeek value {day!r} is invalid")
    if pattern.get("index") not in (None, *INDEXES):
        raise InvalidRecurrence(f"index {pattern.get('index')!r} is invalid")
    if pattern["type"] in ("weekly", "relativeMonthly", "relativeYearly") and not pattern.get("daysOfWeek"):
        raise InvalidRecurrence(f"{pattern['type']} recurrence needs daysOfWeek")
    if rng["type"] == "endDate" and not rng.get("endDate"):
        raise InvalidRecurrence("range type endDate needs endDate")
    if rng["type"] == "numbered" and not (
        isinstance(rng.get("numberOfOccurrences"), int) and rng["numberOfOccurrences"] > 0
    ):
        raise InvalidRecurrence("range type numbered needs a positive numberOfOccurrences")
    if not rng.get("startDate"):
        raise InvalidRecurrence("recurrence range needs startDate")
    tz = rng.get("recurrenceTimeZone")
    if tz:
        try:
            zone(tz)
        except UnknownTimeZone as exc:
            raise InvalidRecurrence(str(exc)) from None


def original_starts(recurrence: dict[str, Any], first_start: datetime, tz: str, limit: datetime) -> list[datetime]:
    """UTC original start instants of the series up to ``limit`` (cancelled/moved occurrences included)."""
    pattern, rng = recurrence["pattern"], recurrence["range"]
    local_zone = zone(rng.get("recurrenceTimeZone") or tz)
    local_start = first_start.astimezone(local_zone)
    start_date = datetime.fromisoformat(rng["startDate"]).date()
    dtstart = datetime.combine(start_date, local_start.time())
    kwargs: dict[str, Any] = {"interval": pattern["interval"], "dtstart": dtstart}
    days = [DAYS[str(d).lower()] for d in pattern.get("daysOfWeek") or []]
    kind = pattern["type"]
    if kind == "weekly":
        kwargs["byweekday"] = days
        kwargs["wkst"] = DAYS[str(pattern.get("firstDayOfWeek") or "sunday").lower()]
    elif kind == "absoluteMonthly":
        kwargs["bymonthday"] = pattern.get("dayOfMonth") or start_date.day
    elif kind == "relativeMonthly":
        kwargs["byweekday"] = days
        kwargs["bysetpos"] = INDEXES[pattern.get("index") or "first"]
    elif kind == "absoluteYearly":
        kwargs["bymonth"] = pattern.get("month") or start_date.month
        kwargs["bymonthday"] = pattern.get("dayOfMonth") or start_date.day
    elif kind == "relativeYearly":
        kwargs["bymonth"] = pattern.get("month") or start_date.month
        kwargs["byweekday"] = days
        kwargs["bysetpos"] = INDEXES[pattern.get("index") or "first"]
    if rng["type"] == "numbered":
        kwargs["count"] = rng["numberOfOccurrences"]
    elif rng["type"] == "endDate":
        kwargs["until"] = datetime.combine(datetime.fromisoformat(rng["endDate"]).date(), time(23, 59, 59))
    local_limit = limit.astimezone(local_zone).replace(tzinfo=None)
    result: list[datetime] = []
    for local in rrule.rrule(FREQS[kind], **kwargs):  # type: ignore[arg-type]
        if local > local_limit or len(result) >= MAX_INSTANCES:
            break
        result.append(local.replace(tzinfo=local_zone).astimezone(UTC))
    return result
