"""EWS ``<t:Recurrence>`` elements <-> the store's recurrence (the Graph ``patternedRecurrence`` shape).

Both APIs are faces of one Exchange recurrence model, so the mapping is one to one: WeeklyRecurrence is ``weekly``,
RelativeMonthlyRecurrence is ``relativeMonthly`` and so on. EWS names a relative pattern's day as one value, with
``Weekday``, ``WeekendDay`` and ``Day`` standing for the sets Graph lists day by day.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from roomsync.sandbox.ews.soap import ItemError, sub, t

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SETS = {
    "Weekday": DAYS[:5],
    "WeekendDay": DAYS[5:],
    "Day": DAYS,
}
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
INDEXES = {"First": "first", "Second": "second", "Third": "third", "Fourth": "fourth", "Last": "last"}
PATTERNS = {
    "DailyRecurrence": "daily",
    "WeeklyRecurrence": "weekly",
    "AbsoluteMonthlyRecurrence": "absoluteMonthly",
    "RelativeMonthlyRecurrence": "relativeMonthly",
    "AbsoluteYearlyRecurrence": "absoluteYearly",
    "RelativeYearlyRecurrence": "relativeYearly",
}
RANGES = {"NoEndRecurrence": "noEnd", "EndDateRecurrence": "endDate", "NumberedRecurrence": "numbered"}


def _text(elem: ET.Element, tag: str) -> str | None:
    child = elem.find(t(tag))
    return child.text.strip() if child is not None and child.text else None


def _int(elem: ET.Element, tag: str) -> int | None:
    value = _text(elem, tag)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ItemError("ErrorInvalidRecurrence", f"{tag} {value!r} is not a number") from None


def _days(value: str | None) -> list[str]:
    result: list[str] = []
    for name in (value or "").split():
        if name in SETS:
            result += SETS[name]
        elif name in DAYS:
            result.append(name)
        else:
            raise ItemError("ErrorInvalidRecurrence", f"DaysOfWeek value {name!r} is not a day")
    return [d.lower() for d in result]


def from_ews(elem: ET.Element, tz: str) -> dict[str, Any]:
    """The store recurrence of a ``<t:Recurrence>`` element; ``tz`` is the item's start zone."""
    pattern_elem = next((c for c in elem if c.tag in {t(k) for k in PATTERNS}), None)
    range_elem = next((c for c in elem if c.tag in {t(k) for k in RANGES}), None)
    if pattern_elem is None or range_elem is None:
        raise ItemError("ErrorInvalidRecurrence", "Recurrence needs a pattern and a range")
    kind = PATTERNS[pattern_elem.tag.rsplit("}", 1)[1]]
    pattern: dict[str, Any] = {"type": kind, "interval": _int(pattern_elem, "Interval") or 1}
    days = _days(_text(pattern_elem, "DaysOfWeek"))
    if days:
        pattern["daysOfWeek"] = days
    first = _text(pattern_elem, "FirstDayOfWeek")
    if first:
        pattern["firstDayOfWeek"] = first.lower()
    if _int(pattern_elem, "DayOfMonth") is not None:
        pattern["dayOfMonth"] = _int(pattern_elem, "DayOfMonth")
    month = _text(pattern_elem, "Month")
    if month:
        if month not in MONTHS:
            raise ItemError("ErrorInvalidRecurrence", f"Month {month!r} is not a month")
        pattern["month"] = MONTHS.index(month) + 1
    index = _text(pattern_elem, "DayOfWeekIndex")
    if index:
        if index not in INDEXES:
            raise ItemError("ErrorInvalidRecurrence", f"DayOfWeekIndex {index!r} is invalid")
        pattern["index"] = INDEXES[index]
    range_kind = RANGES[range_elem.tag.rsplit("}", 1)[1]]
    start = (_text(range_elem, "StartDate") or "")[:10]
    if not start:
        raise ItemError("ErrorInvalidRecurrence", "the recurrence range needs a StartDate")
    rng: dict[str, Any] = {"type": range_kind, "startDate": start, "recurrenceTimeZone": tz}
    if range_kind == "endDate":
        rng["endDate"] = (_text(range_elem, "EndDate") or "")[:10]
    if range_kind == "numbered":
        rng["numberOfOccurrences"] = _int(range_elem, "NumberOfOccurrences")
    return {"pattern": pattern, "range": rng}


def _ews_days(days: list[str], *, single: bool) -> str:
    names = tuple(d.capitalize() for d in days)
    if single:
        for name, members in SETS.items():
            if set(names) == set(members) and len(names) > 1:
                return name
        return names[0] if names else "Monday"
    return " ".join(sorted(set(names), key=DAYS.index))


def to_ews(parent: ET.Element, recurrence: dict[str, Any]) -> None:
    """Append the ``<t:Recurrence>`` of a store recurrence to ``parent``."""
    pattern, rng = recurrence["pattern"], recurrence["range"]
    kind = pattern["type"]
    tag = next(k for k, v in PATTERNS.items() if v == kind)
    elem = sub(parent, t("Recurrence"))
    body = sub(elem, t(tag))
    if kind in ("relativeYearly",):
        sub(body, t("DaysOfWeek"), _ews_days(pattern.get("daysOfWeek") or [], single=True))
        sub(body, t("DayOfWeekIndex"), _index(pattern))
        sub(body, t("Month"), MONTHS[int(pattern.get("month") or 1) - 1])
    elif kind == "absoluteYearly":
        sub(body, t("DayOfMonth"), pattern.get("dayOfMonth") or 1)
        sub(body, t("Month"), MONTHS[int(pattern.get("month") or 1) - 1])
    else:
        sub(body, t("Interval"), pattern.get("interval") or 1)
        if kind == "weekly":
            sub(body, t("DaysOfWeek"), _ews_days(pattern.get("daysOfWeek") or [], single=False))
            sub(body, t("FirstDayOfWeek"), str(pattern.get("firstDayOfWeek") or "sunday").capitalize())
        elif kind == "absoluteMonthly":
            sub(body, t("DayOfMonth"), pattern.get("dayOfMonth") or 1)
        elif kind == "relativeMonthly":
            sub(body, t("DaysOfWeek"), _ews_days(pattern.get("daysOfWeek") or [], single=True))
            sub(body, t("DayOfWeekIndex"), _index(pattern))
    range_tag = next(k for k, v in RANGES.items() if v == rng["type"])
    range_elem = sub(elem, t(range_tag))
    sub(range_elem, t("StartDate"), rng["startDate"])
    if rng["type"] == "endDate":
        sub(range_elem, t("EndDate"), rng["endDate"])
    elif rng["type"] == "numbered":
        sub(range_elem, t("NumberOfOccurrences"), rng["numberOfOccurrences"])


def _index(pattern: dict[str, Any]) -> str:
    wanted = str(pattern.get("index") or "first")
    return next(k for k, v in INDEXES.items() if v == wanted)
