"""Graph ``patternedRecurrence`` <-> canonical :class:`~roomsync.model.Recurrence`.

Graph series are expanded in the series' zone; canonical rules are expanded in the booking's zone, which this
connector takes from the master's ``originalStartTimeZone`` (or ``recurrenceTimeZone``), so both agree.
An ``endDate`` range becomes UNTIL at the series' start time on that date (the last instant an occurrence can
start), and back again by taking the local date. Patterns Graph cannot express are refused with
:class:`RecurrenceNotExpressible` (a BookingRefused for the engine), never approximated.

Written as plain JSON (``patternedRecurrence`` as Graph documents it, the enum values taken from msgraph-sdk's
generated enums), read through the SDK's model (:func:`~.items.recurrence_of`); see :mod:`.mapping` for why.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from msgraph.generated.models.day_of_week import DayOfWeek
from msgraph.generated.models.patterned_recurrence import PatternedRecurrence
from msgraph.generated.models.recurrence_pattern_type import RecurrencePatternType
from msgraph.generated.models.recurrence_range_type import RecurrenceRangeType
from msgraph.generated.models.week_index import WeekIndex

from roomsync.model import Frequency, OccurrenceOverride, Recurrence, zone

UTC = UTC
_DAYS = {
    "MO": DayOfWeek.Monday,
    "TU": DayOfWeek.Tuesday,
    "WE": DayOfWeek.Wednesday,
    "TH": DayOfWeek.Thursday,
    "FR": DayOfWeek.Friday,
    "SA": DayOfWeek.Saturday,
    "SU": DayOfWeek.Sunday,
}
_CODES: dict[str, str] = {str(v.value): k for k, v in _DAYS.items()}
_ORDER = list(_DAYS)
_INDEX = {1: WeekIndex.First, 2: WeekIndex.Second, 3: WeekIndex.Third, 4: WeekIndex.Fourth, -1: WeekIndex.Last}
_INDEX_BACK: dict[str, int] = {str(v.value): k for k, v in _INDEX.items()}
_BYDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")


class RecurrenceNotExpressible(ValueError):
    """A canonical rule with no Exchange equivalent (e.g. two BYMONTHDAY values)."""


def _value(enum_or_str: object) -> str:
    return str(getattr(enum_or_str, "value", enum_or_str) or "")


def _sorted_days(days: list[str]) -> tuple[str, ...]:
    return tuple(sorted(set(days), key=_ORDER.index))


def from_graph(recurrence: PatternedRecurrence, first_start: datetime, tz: str) -> Recurrence:
    """The canonical rule of a series master (exceptions are added by the caller)."""
    pattern, rng = recurrence.pattern, recurrence.range
    if pattern is None or rng is None:
        raise RecurrenceNotExpressible("recurrence without pattern or range")
    kind = _value(pattern.type)
    interval = pattern.interval or 1
    days = _sorted_days([_CODES[_value(d)] for d in pattern.days_of_week or []])
    index = _INDEX_BACK.get(_value(pattern.index) or "first", 1)
    wkst = (
        _CODES.get(_value(pattern.first_day_of_week) or "sunday", "SU") if kind == "weekly" and interval > 1 else "MO"
    )
    kwargs: dict[str, object] = {"interval": interval, "wkst": wkst}
    if kind == "daily":
        freq = Frequency.DAILY
    elif kind == "weekly":
        freq = Frequency.WEEKLY
        kwargs["by_day"] = days
    elif kind == "absoluteMonthly":
        freq = Frequency.MONTHLY
        kwargs["by_month_day"] = (pattern.day_of_month or first_start.astimezone(zone(tz)).day,)
    elif kind == "relativeMonthly":
        freq = Frequency.MONTHLY
        kwargs.update(by_day=days, by_set_pos=(index,))
    elif kind == "absoluteYearly":
        local = first_start.astimezone(zone(tz))
        freq = Frequency.YEARLY
        kwargs.update(by_month=(pattern.month or local.month,), by_month_day=(pattern.day_of_month or local.day,))
    elif kind == "relativeYearly":
        freq = Frequency.YEARLY
        kwargs.update(
            by_month=(pattern.month or first_start.astimezone(zone(tz)).month,), by_day=days, by_set_pos=(index,)
        )
    else:
        raise RecurrenceNotExpressible(f"pattern type {kind!r}")
    range_kind = _value(rng.type)
    if range_kind == "numbered":
        kwargs["count"] = rng.number_of_occurrences
    elif range_kind == "endDate" and rng.end_date is not None:
        kwargs["until"] = _until(rng.end_date, first_start, tz)
    return Recurrence(freq=freq, **kwargs)  # type: ignore[arg-type]


def _until(end_date: date, first_start: datetime, tz: str) -> datetime:
    local_zone = zone(tz)
    local_time = first_start.astimezone(local_zone).time()
    return datetime.combine(end_date, local_time).replace(tzinfo=local_zone).astimezone(UTC)


def to_graph(recurrence: Recurrence, first_start: datetime, tz: str) -> dict[str, Any]:
    """The Graph ``patternedRecurrence`` (JSON) for a canonical rule; raises :class:`RecurrenceNotExpressible`.
    ``firstDayOfWeek`` is written for weekly patterns only, ``index`` for relative ones (Graph's defaults otherwise).
    """
    local = first_start.astimezone(zone(tz))
    pattern: dict[str, Any] = {"interval": recurrence.interval}
    plain_days: list[tuple[int, str]] = []
    ordinals: list[tuple[int, str]] = []
    for day in recurrence.by_day:
        match = _BYDAY.match(day)
        if match is None:
            raise RecurrenceNotExpressible(f"BYDAY {day}")
        (ordinals if match.group(1) else plain_days).append((int(match.group(1) or 0), match.group(2)))
    set_pos = recurrence.by_set_pos
    freq = recurrence.freq
    if freq is Frequency.DAILY and not recurrence.by_day and not recurrence.by_month_day:
        pattern["type"] = RecurrencePatternType.Daily.value
    elif freq in (Frequency.WEEKLY, Frequency.DAILY) and plain_days and not ordinals and not set_pos:
        if freq is Frequency.DAILY and recurrence.interval != 1:
            raise RecurrenceNotExpressible("daily with BYDAY and an interval")
        pattern["type"] = RecurrencePatternType.Weekly.value
        pattern["daysOfWeek"] = [_DAYS[d].value for _, d in plain_days]
        pattern["firstDayOfWeek"] = _DAYS[recurrence.wkst].value
    elif freq is Frequency.WEEKLY and not recurrence.by_day:
        pattern["type"] = RecurrencePatternType.Weekly.value
        pattern["daysOfWeek"] = [_DAYS[_ORDER[local.weekday()]].value]
        pattern["firstDayOfWeek"] = _DAYS[recurrence.wkst].value
    elif freq in (Frequency.MONTHLY, Frequency.YEARLY):
        relative = _relative(plain_days, ordinals, set_pos)
        yearly = freq is Frequency.YEARLY
        if yearly:
            if len(recurrence.by_month) > 1:
                raise RecurrenceNotExpressible("YEARLY with more than one BYMONTH")
            pattern["month"] = recurrence.by_month[0] if recurrence.by_month else local.month
        if relative is not None:
            kind = RecurrencePatternType.RelativeYearly if yearly else RecurrencePatternType.RelativeMonthly
            pattern["type"] = kind.value
            pattern["daysOfWeek"] = [_DAYS[d].value for d in relative[1]]
            pattern["index"] = _INDEX[relative[0]].value
        elif not recurrence.by_day and len(recurrence.by_month_day) <= 1 and not set_pos:
            month_day = recurrence.by_month_day[0] if recurrence.by_month_day else local.day
            if month_day < 1:
                raise RecurrenceNotExpressible("a negative BYMONTHDAY")
            kind = RecurrencePatternType.AbsoluteYearly if yearly else RecurrencePatternType.AbsoluteMonthly
            pattern["type"] = kind.value
            pattern["dayOfMonth"] = month_day
        else:
            raise RecurrenceNotExpressible(f"RRULE {recurrence.rule()}")
    else:
        raise RecurrenceNotExpressible(f"RRULE {recurrence.rule()}")
    rng: dict[str, Any] = {"startDate": local.date().isoformat(), "recurrenceTimeZone": tz}
    if recurrence.count is not None:
        rng["type"], rng["numberOfOccurrences"] = RecurrenceRangeType.Numbered.value, recurrence.count
    elif recurrence.until is not None:
        rng["type"] = RecurrenceRangeType.EndDate.value
        rng["endDate"] = recurrence.until.astimezone(zone(tz)).date().isoformat()
    else:
        rng["type"] = RecurrenceRangeType.NoEnd.value
    return {"pattern": pattern, "range": rng}


def _relative(
    plain: list[tuple[int, str]], ordinals: list[tuple[int, str]], set_pos: tuple[int, ...]
) -> tuple[int, list[str]] | None:
    """(index, days) for "the second Tuesday" style rules, None for day-of-month rules."""
    if ordinals and not plain and not set_pos:
        positions = {n for n, _ in ordinals}
        if len(positions) == 1 and next(iter(positions)) in _INDEX:
            return next(iter(positions)), [d for _, d in ordinals]
        raise RecurrenceNotExpressible("BYDAY ordinals Exchange cannot express")
    if plain and not ordinals and len(set_pos) == 1 and set_pos[0] in _INDEX:
        return set_pos[0], [d for _, d in plain]
    if plain or ordinals or set_pos:
        raise RecurrenceNotExpressible("BYDAY/BYSETPOS combination Exchange cannot express")
    return None


def cancelled_starts(values: list[str], first_start: datetime, tz: str) -> frozenset[datetime]:
    """``OID.{masterId}.2020-04-30`` -> the original start instant of that occurrence."""
    local_zone = zone(tz)
    local_time = first_start.astimezone(local_zone).time()
    result = set()
    for value in values:
        try:
            day = date.fromisoformat(value.rsplit(".", 1)[-1])
        except ValueError:
            continue
        result.add(datetime.combine(day, local_time).replace(tzinfo=local_zone).astimezone(UTC))
    return frozenset(result)


def override(
    original_start: datetime, start: datetime, end: datetime, subject: str | None, master_subject: str
) -> OccurrenceOverride:
    return OccurrenceOverride(original_start, start, end, subject if subject and subject != master_subject else None)
