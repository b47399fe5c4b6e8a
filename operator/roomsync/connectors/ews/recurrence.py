"""exchangelib ``Recurrence`` (EWS patterns) <-> canonical :class:`~roomsync.model.Recurrence`.

The series' zone is the master's StartTimeZone; the canonical rule is expanded in the booking's zone, which the
connector takes from the same place, so both agree. An ``EndDateRecurrence`` becomes UNTIL at the series' start time
on that date (the last instant an occurrence can start) and back again by taking the local date. EWS names one day
in a relative pattern, with ``Weekday`` / ``WeekendDay`` / ``Day`` for those sets. Patterns EWS cannot express are
refused with :class:`RecurrenceNotExpressible` (a BookingRefused for the engine), never approximated.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)
from exchangelib.recurrence import Recurrence as EwsRecurrence

from roomsync.model import Frequency, Recurrence, zone

ORDER = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
#: exchangelib's day numbers (1 = Monday) and the sets EWS names as one value.
DAY, WEEKDAY, WEEKEND_DAY = 8, 9, 10
SETS = {DAY: ORDER, WEEKDAY: ORDER[:5], WEEKEND_DAY: ORDER[5:]}
#: exchangelib's week numbers: First=1 ... Fourth=4, Last=5; canonical BYSETPOS uses -1 for last.
LAST_WEEK = 5
_BYDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
MAX_NUMBERED = 999  # NumberOfOccurrences above this is refused by exchangelib


class RecurrenceNotExpressible(ValueError):
    """A canonical rule with no EWS equivalent (e.g. two BYMONTHDAY values)."""


def _days(value: int) -> tuple[str, ...]:
    return SETS.get(value, (ORDER[value - 1],) if 1 <= value <= 7 else ())


def _position(week_number: int) -> int:
    return -1 if week_number == LAST_WEEK else week_number


def from_ews(recurrence: EwsRecurrence, first_start: datetime, tz: str) -> Recurrence:
    """The canonical rule of a series master (exceptions are added by the caller)."""
    pattern, boundary = recurrence.pattern, recurrence.boundary
    local = first_start.astimezone(zone(tz))
    kwargs: dict[str, object] = {}
    if isinstance(pattern, DailyPattern):
        freq, kwargs["interval"] = Frequency.DAILY, pattern.interval
    elif isinstance(pattern, WeeklyPattern):
        freq, kwargs["interval"] = Frequency.WEEKLY, pattern.interval
        days = sorted({ORDER[d - 1] for d in pattern.weekdays or []}, key=ORDER.index)
        kwargs["by_day"] = tuple(days) or (ORDER[local.weekday()],)
        if pattern.interval > 1:
            kwargs["wkst"] = ORDER[(pattern.first_day_of_week or 1) - 1]
    elif isinstance(pattern, AbsoluteMonthlyPattern):
        freq, kwargs["interval"] = Frequency.MONTHLY, pattern.interval
        kwargs["by_month_day"] = (pattern.day_of_month,)
    elif isinstance(pattern, RelativeMonthlyPattern):
        freq, kwargs["interval"] = Frequency.MONTHLY, pattern.interval
        kwargs.update(by_day=_days(pattern.weekday), by_set_pos=(_position(pattern.week_number),))
    elif isinstance(pattern, AbsoluteYearlyPattern):
        freq = Frequency.YEARLY
        kwargs.update(by_month=(pattern.month,), by_month_day=(pattern.day_of_month,))
    elif isinstance(pattern, RelativeYearlyPattern):
        freq = Frequency.YEARLY
        kwargs.update(
            by_month=(pattern.month,), by_day=_days(pattern.weekday), by_set_pos=(_position(pattern.week_number),)
        )
    else:
        raise RecurrenceNotExpressible(f"pattern {type(pattern).__name__}")
    if isinstance(boundary, NumberedPattern):
        kwargs["count"] = boundary.number
    elif isinstance(boundary, EndDatePattern):
        kwargs["until"] = _until(boundary.end, first_start, tz)
    return Recurrence(freq=freq, **kwargs)  # type: ignore[arg-type]


def _until(end_date: date, first_start: datetime, tz: str) -> datetime:
    local_zone = zone(tz)
    local_time = first_start.astimezone(local_zone).time()
    return datetime.combine(end_date, local_time).replace(tzinfo=local_zone).astimezone(UTC)


def _weekday_value(days: list[str]) -> int:
    """One exchangelib day value for a set of canonical days (a single day or a named set)."""
    wanted = tuple(sorted(set(days), key=ORDER.index))
    for value, members in SETS.items():
        if wanted == members:
            return value
    if len(wanted) == 1:
        return ORDER.index(wanted[0]) + 1
    raise RecurrenceNotExpressible(f"BYDAY={','.join(wanted)} in a relative pattern")


def _relative(recurrence: Recurrence) -> tuple[int, int] | None:
    """(exchangelib day value, week number) for "the second Tuesday" style rules; None for day-of-month rules."""
    plain: list[tuple[int, str]] = []
    ordinals: list[tuple[int, str]] = []
    for day in recurrence.by_day:
        match = _BYDAY.match(day)
        if match is None:
            raise RecurrenceNotExpressible(f"BYDAY {day}")
        (ordinals if match.group(1) else plain).append((int(match.group(1) or 0), match.group(2)))
    positions = {n for n, _ in ordinals} | set(recurrence.by_set_pos)
    if not plain and not ordinals:
        if recurrence.by_set_pos:
            raise RecurrenceNotExpressible("BYSETPOS without BYDAY")
        return None
    if plain and ordinals:
        raise RecurrenceNotExpressible("BYDAY mixing ordinals and plain days")
    if len(positions) != 1 or next(iter(positions)) not in (1, 2, 3, 4, -1):
        raise RecurrenceNotExpressible("BYDAY/BYSETPOS positions EWS cannot express")
    position = next(iter(positions))
    days = [d for _, d in ordinals] or [d for _, d in plain]
    return _weekday_value(days), LAST_WEEK if position == -1 else position


def to_ews(recurrence: Recurrence, first_start: datetime, tz: str) -> EwsRecurrence:
    """The exchangelib recurrence for a canonical rule; raises :class:`RecurrenceNotExpressible`."""
    local = first_start.astimezone(zone(tz))
    freq = recurrence.freq
    pattern: object
    if freq is Frequency.DAILY and not recurrence.by_day and not recurrence.by_month_day:
        pattern = DailyPattern(interval=recurrence.interval)
    elif freq in (Frequency.WEEKLY, Frequency.DAILY) and not recurrence.by_month_day and not recurrence.by_set_pos:
        if freq is Frequency.DAILY and recurrence.interval != 1:
            raise RecurrenceNotExpressible("daily with BYDAY and an interval")
        if any((match := _BYDAY.match(d)) is None or match.group(1) for d in recurrence.by_day):
            raise RecurrenceNotExpressible(f"RRULE {recurrence.rule()}")
        weekdays = [ORDER.index(d) + 1 for d in (recurrence.by_day or (ORDER[local.weekday()],))]
        pattern = WeeklyPattern(
            interval=recurrence.interval, weekdays=weekdays, first_day_of_week=ORDER.index(recurrence.wkst) + 1
        )
    elif freq in (Frequency.MONTHLY, Frequency.YEARLY):
        yearly = freq is Frequency.YEARLY
        if yearly and (len(recurrence.by_month) > 1 or recurrence.interval != 1):
            raise RecurrenceNotExpressible(f"RRULE {recurrence.rule()}")
        month = recurrence.by_month[0] if recurrence.by_month else local.month
        relative = _relative(recurrence)
        if relative is not None:
            weekday, week = relative
            pattern = (
                RelativeYearlyPattern(weekday=weekday, week_number=week, month=month)
                if yearly
                else RelativeMonthlyPattern(interval=recurrence.interval, weekday=weekday, week_number=week)
            )
        elif len(recurrence.by_month_day) <= 1:
            day = recurrence.by_month_day[0] if recurrence.by_month_day else local.day
            if day < 1:
                raise RecurrenceNotExpressible("a negative BYMONTHDAY")
            pattern = (
                AbsoluteYearlyPattern(day_of_month=day, month=month)
                if yearly
                else AbsoluteMonthlyPattern(interval=recurrence.interval, day_of_month=day)
            )
        else:
            raise RecurrenceNotExpressible(f"RRULE {recurrence.rule()}")
    else:
        raise RecurrenceNotExpressible(f"RRULE {recurrence.rule()}")
    start = local.date()
    boundary: object
    if recurrence.count is not None:
        if recurrence.count > MAX_NUMBERED:
            raise RecurrenceNotExpressible(f"COUNT={recurrence.count} (EWS allows at most {MAX_NUMBERED})")
        boundary = NumberedPattern(start=start, number=recurrence.count)
    elif recurrence.until is not None:
        boundary = EndDatePattern(start=start, end=recurrence.until.astimezone(zone(tz)).date())
    else:
        boundary = NoEndPattern(start=start)
    return EwsRecurrence(pattern=pattern, boundary=boundary)
