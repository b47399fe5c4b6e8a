"""Event times and recurrence as Google Calendar keeps them, for the emulator only.

Deliberately independent of :mod:`roomsync.model` (an emulator that shared the product's recurrence code could not
catch its bugs). A timed event has ``{"dateTime": RFC 3339 with offset, "timeZone": IANA}``; an all-day event has
``{"date": "yyyy-mm-dd"}`` (end exclusive) and is placed in the calendar's zone. A series is expanded in its
``start.timeZone`` (required for recurring events) with python-dateutil: RRULE lines via ``rrulestr``, EXDATE and
RDATE lines parsed here (``TZID=``, UTC ``Z`` and ``VALUE=DATE`` forms).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr

UTC = UTC
#: Far enough for open-ended series in a 60-180 day sync window and for conflict checks.
HORIZON = timedelta(days=800)
MAX_INSTANCES = 3000
_LINE = re.compile(r"^(RRULE|EXRULE|RDATE|EXDATE)([;:].*)$", re.IGNORECASE)


class BadTime(ValueError):
    """A start/end/recurrence the API refuses with 400."""


def tz(name: str | None, default: str = "UTC") -> ZoneInfo:
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadTime(f"Invalid time zone definition for start time: {name}") from None


def parse_when(value: Any, calendar_zone: str, what: str) -> tuple[datetime, bool, str]:
    """``(instant in UTC, all_day, zone)`` of an EventDateTime."""
    if not isinstance(value, dict):
        raise BadTime(f"Missing {what} time.")
    zone_name = str(value.get("timeZone") or calendar_zone)
    zone = tz(zone_name)
    if value.get("date"):
        try:
            day = date.fromisoformat(str(value["date"]))
        except ValueError:
            raise BadTime(f"Invalid {what} date.") from None
        return datetime.combine(day, time(), zone).astimezone(UTC), True, calendar_zone
    text = str(value.get("dateTime") or "")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadTime(f"Invalid {what} time.") from None
    if moment.tzinfo is None:
        if not value.get("timeZone"):
            raise BadTime(f"Missing time zone definition for {what} time.")
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC), False, zone_name


def render_when(instant: datetime, all_day: bool, zone_name: str, *, with_zone: bool = True) -> dict[str, str]:
    """An EventDateTime: local time with its offset in ``zone_name`` (what Google answers)."""
    zone = tz(zone_name)
    local = instant.astimezone(zone)
    if all_day:
        return {"date": local.date().isoformat()}
    result = {"dateTime": local.isoformat(timespec="seconds")}
    if with_zone:
        result["timeZone"] = zone_name
    return result


def rfc3339(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_rfc3339(text: str, what: str) -> datetime:
    """timeMin/timeMax: an offset is mandatory."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadTime(f"Bad Request: invalid {what}") from None
    if moment.tzinfo is None:
        raise BadTime(f"Bad Request: {what} needs an offset")
    return moment.astimezone(UTC)


def instance_stamp(original: datetime, all_day: bool, zone_name: str) -> str:
    """The suffix of an instance id: ``20310304T090000Z`` (``20310304`` for all-day series)."""
    if all_day:
        return original.astimezone(tz(zone_name)).strftime("%Y%m%d")
    return original.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class Rule:
    """A series' recurrence lines, checked once."""

    rrules: tuple[str, ...]
    exdates: tuple[str, ...]
    rdates: tuple[str, ...]

    @classmethod
    def parse(cls, lines: Any) -> Rule:
        if not isinstance(lines, list) or not lines:
            raise BadTime("Invalid recurrence rule.")
        rrules: list[str] = []
        exdates: list[str] = []
        rdates: list[str] = []
        for line in lines:
            match = _LINE.match(str(line).strip())
            if match is None:
                raise BadTime(f"Invalid recurrence rule: {line}")
            kind = match.group(1).upper()
            if kind == "EXRULE":
                raise BadTime("EXRULE is not supported.")
            {"RRULE": rrules, "EXDATE": exdates, "RDATE": rdates}[kind].append(str(line).strip())
        if len(rrules) != 1:
            raise BadTime("Invalid recurrence rule: exactly one RRULE is needed.")
        return cls(tuple(rrules), tuple(exdates), tuple(rdates))

    def starts(self, first: datetime, all_day: bool, zone_name: str, until: datetime) -> list[datetime]:
        """Original starts (UTC) from ``first`` up to ``until``, EXDATEs removed, RDATEs added."""
        zone = tz(zone_name)
        local_first = first.astimezone(zone)
        text = self.rrules[0].split(":", 1)[1]
        text = re.sub(r"UNTIL=(\d{8})(?=;|$)", lambda m: f"UNTIL={m.group(1)}T235959Z", text, flags=re.IGNORECASE)
        try:
            rule = rrulestr(text, dtstart=local_first)
        except (ValueError, TypeError) as exc:
            raise BadTime(f"Invalid recurrence rule: {exc}") from None
        result: list[datetime] = []
        for local in rule:
            instant = local.astimezone(UTC)
            if instant > until or len(result) >= MAX_INSTANCES:
                break
            result.append(instant)
        excluded = {d for line in self.exdates for d in _date_values(line, zone, local_first.time(), all_day)}
        extra = [d for line in self.rdates for d in _date_values(line, zone, local_first.time(), all_day)]
        return sorted({d for d in result + [d for d in extra if d <= until] if d not in excluded})


def _date_values(line: str, zone: ZoneInfo, at: time, all_day: bool) -> list[datetime]:
    head, _, values = line.partition(":")
    params = dict(p.split("=", 1) for p in head.split(";")[1:] if "=" in p)
    line_zone = tz(params["TZID"]) if "TZID" in params else zone
    result = []
    for value in filter(None, values.split(",")):
        value = value.strip()
        try:
            if params.get("VALUE", "").upper() == "DATE" or len(value) == 8:
                day = datetime.strptime(value, "%Y%m%d").date()
                moment = datetime.combine(day, time() if all_day else at, zone)
            elif value.endswith("Z"):
                moment = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            else:
                moment = datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=line_zone)
        except ValueError:
            raise BadTime(f"Invalid recurrence date: {value}") from None
        result.append(moment.astimezone(UTC))
    return result
