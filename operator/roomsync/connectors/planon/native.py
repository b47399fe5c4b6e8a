"""The recurrence of a native Planon series, inferred from its reservations.

A Planon user's "Make recurrent" (reference planon.md §1.10) leaves a scheduled series of separate reservations; the
pattern itself is not in the REST API. When a tenant exposes the field that ties such a series
(``reservationFields.nativeSeries``), RoomSync reads every reservation of the series, cancelled ones included, and
finds the simplest rule that gives all of them: DAILY or WEEKLY with an INTERVAL, or MONTHLY on the day of the month,
always with a COUNT. Occurrences of the rule without a reservation, or whose reservation was cancelled, are exception
dates; a reservation at another time or with another subject on its day is a modified occurrence.

The inference is deliberately strict: a rule is only accepted when the reservations fill at least half of its
occurrences, all in one room and at most one per day. Anything else (explicit dates, two weekdays a week, an
occurrence moved to another day before RoomSync saw the series) is not guessed at: each reservation then stays a
meeting of its own. Once the series is synced RoomSync writes its own series text and occurrence ids onto the
reservations, and from then on Planon edits are exceptions to that text, never inferred again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from itertools import pairwise
from math import gcd

from roomsync.connectors.planon.codec import Row
from roomsync.connectors.planon.texts import SeriesText
from roomsync.model import Frequency, Recurrence, zone


@dataclass(frozen=True)
class NativeSeries:
    """The inferred series text and, per reservation (syscode), the original start of the occurrence it holds."""

    series: SeriesText
    originals: Mapping[int, datetime]


class NotInferable(ValueError):
    """The reservations follow no pattern RoomSync infers; the message says why, for the log."""


def infer(rows: Sequence[Row], tz: str) -> NativeSeries:
    """The series ``rows`` (every reservation of one native series, live and cancelled) make, in zone ``tz``."""
    if len({r.room for r in rows}) != 1:
        raise NotInferable("its reservations are in more than one room")
    local = zone(tz)
    ordered = sorted(rows, key=lambda r: (r.begin, r.syscode))
    by_day: dict[date, Row] = {}
    for r in ordered:
        day = r.begin.astimezone(local).date()
        if day in by_day:
            raise NotInferable(f"it has two reservations on {day.isoformat()}")
        by_day[day] = r
    days = sorted(by_day)
    if len(days) < 2:
        raise NotInferable("it has a single reservation")
    # the usual wall time and length; a reservation that differs is a modified occurrence of its day
    clock, duration = Counter((r.begin.astimezone(local).time(), r.end - r.begin) for r in ordered).most_common(1)[0][0]
    first = datetime.combine(days[0], clock, tzinfo=local).astimezone(UTC)
    last = datetime.combine(days[-1], clock, tzinfo=local).astimezone(UTC)
    best: tuple[Recurrence, dict[date, datetime]] | None = None
    for rule in _candidates(days):
        slots = {s.astimezone(local).date(): s for s in rule.starts(first, tz, last)}
        if not set(days) <= set(slots) or (len(slots) - len(days)) * 2 > len(slots):
            continue
        if best is None or len(slots) < len(best[1]):
            best = replace(rule, count=len(slots)), slots
    if best is None:
        span = f"{days[0].isoformat()} to {days[-1].isoformat()}"
        raise NotInferable(f"its {len(days)} reservations from {span} follow no daily, weekly or monthly pattern")
    rule, slots = best
    return NativeSeries(
        SeriesText(tz, first, duration, rule), {by_day[day].syscode: slots[day] for day in days if day in slots}
    )


def _candidates(days: Sequence[date]) -> list[Recurrence]:
    """Rules that may give every day: monthly on the day of the month, weekly, daily; the densest of each."""
    step = gcd(*((b - a).days for a, b in pairwise(days)))
    candidates = []
    if len({d.day for d in days}) == 1:
        months = [d.year * 12 + d.month for d in days]
        candidates.append(Recurrence(Frequency.MONTHLY, interval=gcd(*(b - a for a, b in pairwise(months)))))
    if step % 7 == 0:
        candidates.append(Recurrence(Frequency.WEEKLY, interval=step // 7))
    candidates.append(Recurrence(Frequency.DAILY, interval=step))
    return candidates
