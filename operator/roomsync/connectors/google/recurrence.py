"""Google ``recurrence`` lines <-> canonical :class:`~roomsync.model.Recurrence`.

Google keeps RFC 5545 lines on the master (``RRULE``, ``EXDATE``, ``RDATE``; no DTSTART) and expands them in
``start.timeZone``. Cancelled occurrences arrive either as ``EXDATE`` lines on the master or as cancelled instance
records ([unconfirmed] which one a tenant shows: both are read); moved ones as instance records. ``RDATE`` and
``EXRULE`` have no canonical form and are refused with :class:`RecurrenceNotExpressible`, never approximated.
Written series carry their cancelled occurrences as one ``EXDATE;TZID=`` line (one write, not one delete each).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time

from roomsync.model import Recurrence, RecurrenceError, zone

UTC = UTC


class RecurrenceNotExpressible(ValueError):
    """Recurrence lines RoomSync cannot hold (RDATE, EXRULE, an RRULE outside the supported subset)."""


def from_google(lines: Iterable[str], first_start: datetime, tz: str, all_day: bool) -> Recurrence:
    rule: Recurrence | None = None
    exdates: set[datetime] = set()
    for line in lines:
        head, _, values = line.partition(":")
        name = head.split(";")[0].upper()
        if name == "RRULE":
            try:
                rule = Recurrence.parse(values)
            except RecurrenceError as exc:
                raise RecurrenceNotExpressible(str(exc)) from None
        elif name == "EXDATE":
            exdates |= exdate_values(head, values, first_start, tz, all_day)
        else:
            raise RecurrenceNotExpressible(f"{name} lines are not supported")
    if rule is None:
        raise RecurrenceNotExpressible("a recurring event without RRULE")
    return rule.with_exceptions(exdates, rule.overrides)


def exdate_values(head: str, values: str, first_start: datetime, tz: str, all_day: bool) -> set[datetime]:
    params = dict(p.split("=", 1) for p in head.split(";")[1:] if "=" in p)
    line_zone = zone(params.get("TZID", tz))
    local_time = first_start.astimezone(zone(tz)).time() if not all_day else time()
    result = set()
    for value in filter(None, (v.strip() for v in values.split(","))):
        try:
            if params.get("VALUE", "").upper() == "DATE" or len(value) == 8:
                day = datetime.strptime(value, "%Y%m%d").date()
                moment = datetime.combine(day, local_time, zone(tz))
            elif value.endswith("Z"):
                moment = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            else:
                moment = datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=line_zone)
        except ValueError:
            raise RecurrenceNotExpressible(f"EXDATE value {value!r}") from None
        result.add(moment.astimezone(UTC))
    return result


def to_google(recurrence: Recurrence, tz: str, all_day: bool) -> list[str]:
    """The lines for a master: the rule, and the cancelled occurrences as one EXDATE line in the series' zone."""
    lines = ["RRULE:" + recurrence.rule()]
    if recurrence.exdates:
        local_zone = zone(tz)
        if all_day:
            days = sorted({d.astimezone(local_zone).strftime("%Y%m%d") for d in recurrence.exdates})
            lines.append("EXDATE;VALUE=DATE:" + ",".join(days))
        else:
            stamps = sorted(d.astimezone(local_zone).strftime("%Y%m%dT%H%M%S") for d in recurrence.exdates)
            lines.append(f"EXDATE;TZID={tz}:" + ",".join(stamps))
    return lines
