"""Graph JSON in and out: the event resource shape, dateTimeTimeZone values, $select and $expand handling."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from roomsync.sandbox.graph.model import Instance, StoredEvent, change_key, occurrence_id
from roomsync.sandbox.graph.zones import UnknownTimeZone, zone

UTC = UTC
_EXT_FILTER = re.compile(r"id\s+eq\s+'([^']*)'", re.IGNORECASE)
#: Single-value extended property ids as Graph accepts them (extended-properties-overview): a MAPI type, then
#: ``{guid} Name name``, ``{guid} Id 0x8000`` or a property tag.
_PROPERTY_ID = re.compile(
    r"^(Binary|Boolean|CLSID|Currency|Double|Float|Integer|Long|Object|Short|String|SystemTime) "
    r"(\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\} "
    r"(Name \S.*|Id 0x[0-9A-Fa-f]{1,8})|0x[0-9A-Fa-f]{4})$"
)


class BadRequest(ValueError):
    """Becomes a 400 with a Graph error body."""

    def __init__(self, message: str, code: str = "ErrorInvalidRequest") -> None:
        super().__init__(message)
        self.code = code


def format_local(value: datetime, tz: str) -> dict[str, str]:
    """A dateTimeTimeZone with 7 fractional digits and no offset, as Graph writes it."""
    local = value.astimezone(zone(tz))
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}0", "timeZone": tz}


def format_floating(value: datetime, event_tz: str, tz: str) -> dict[str, str]:
    """An all-day boundary: midnight of the event's own date, labelled with whatever zone was asked for. Graph does
    this "by design" (graph docs issue 1802): the dates float, they are never converted."""
    day = value.astimezone(zone(event_tz)).date()
    return {"dateTime": f"{day.isoformat()}T00:00:00.0000000", "timeZone": tz}


def format_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0Z"


def parse_datetime_tz(value: Any, what: str) -> tuple[datetime, str]:
    """Read a dateTimeTimeZone: the wall time is interpreted in ``timeZone`` (an offset, if present, wins)."""
    if not isinstance(value, dict) or not value.get("dateTime"):
        raise BadRequest(f"{what} must be a dateTimeTimeZone object")
    tz = str(value.get("timeZone") or "UTC")
    try:
        local_zone = zone(tz)
    except UnknownTimeZone:
        raise BadRequest(
            f"{what}.timeZone {tz!r} is not a supported time zone", "TimeZoneNotSupportedException"
        ) from None
    parsed = parse_instant(str(value["dateTime"]), what)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=local_zone)
    return parsed.astimezone(UTC), tz


def parse_instant(text: str, what: str) -> datetime:
    """ISO 8601 with up to 7 fractional digits; naive results are left naive for the caller to place."""
    raw = text.strip().replace("Z", "+00:00")
    match = re.match(r"^(.*T\d{2}:\d{2}:\d{2})(\.\d+)?(.*)$", raw)
    if match and match.group(2):
        # Python parses at most 6 fractional digits; Graph writes 7.
        raw = match.group(1) + (match.group(2) + "000000")[:7] + match.group(3)
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{what} {text!r} is not a valid date-time") from None


def parse_window(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    if not start or not end:
        raise BadRequest(
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime."
        )
    lo, hi = parse_instant(start, "startDateTime"), parse_instant(end, "endDateTime")
    lo = lo if lo.tzinfo else lo.replace(tzinfo=UTC)
    hi = hi if hi.tzinfo else hi.replace(tzinfo=UTC)
    if hi <= lo:
        raise BadRequest("endDateTime must be after startDateTime")
    return lo.astimezone(UTC), hi.astimezone(UTC)


def check_property_id(value: str) -> str:
    """A single-value extended property id, or 400 ErrorInvalidExtendedProperty as Graph answers."""
    if not _PROPERTY_ID.match(value):
        raise BadRequest("The extended property attribute combination is invalid.", "ErrorInvalidExtendedProperty")
    return value


def ext_filter_ids(expand: str | None) -> list[str] | None:
    """Property ids named in ``$expand=singleValueExtendedProperties($filter=id eq '...' or id eq '...')``."""
    if not expand:
        return None
    for part in split_top_level(expand):
        if part.strip().lower().startswith("singlevalueextendedproperties"):
            return [check_property_id(i) for i in _EXT_FILTER.findall(part)]
    return None


def expands(expand: str | None, name: str) -> bool:
    return bool(expand) and any(p.strip().lower().startswith(name.lower()) for p in split_top_level(expand or ""))


def split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current:
        parts.append(current)
    return parts


def render_event(
    event: StoredEvent,
    tz: str,
    *,
    instance: Instance | None = None,
    select: list[str] | None = None,
    ext_ids: list[str] | None = None,
    with_exceptions: bool = False,
) -> dict[str, Any]:
    """The Graph JSON of a stored event, or of one of its instances."""
    start, end, subject = event.start, event.end, event.subject
    kind, event_id, version = event.type, event.id, event.version
    original_start = None
    if instance is not None and instance.original_start is not None:
        start, end, subject, kind, event_id = instance.start, instance.end, instance.subject, instance.type, instance.id
        original_start = instance.original_start
        version = instance.version
    key = change_key(event_id, version)
    data: dict[str, Any] = {
        "@odata.etag": f'W/"{key}"',
        "id": event_id,
        "createdDateTime": format_utc(event.created),
        "lastModifiedDateTime": format_utc(event.modified),
        "changeKey": key,
        "categories": [],
        "originalStartTimeZone": event.tz,
        "originalEndTimeZone": event.tz,
        "iCalUId": event.ical_uid if original_start is None else _occurrence_uid(event.ical_uid, original_start),
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": False,
        "hasAttachments": False,
        "subject": subject,
        "bodyPreview": event.body[:255],
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": event.all_day,
        "isCancelled": event.is_cancelled,
        "isOrganizer": event.is_organizer,
        "responseRequested": True,
        "seriesMasterId": event.id if original_start is not None else None,
        "showAs": event.show_as,
        "type": kind,
        "webLink": f"https://outlook.office365.com/owa/?itemid={event_id}&exvsurl=1&path=/calendar/item",
        "isOnlineMeeting": False,
        "allowNewTimeProposals": True,
        "isDraft": False,
        "hideAttendees": False,
        "responseStatus": {"response": event.response, "time": event.response_time},
        "body": {"contentType": "html", "content": event.body},
        "start": format_floating(start, event.tz, tz) if event.all_day else format_local(start, tz),
        "end": format_floating(end, event.tz, tz) if event.all_day else format_local(end, tz),
        "location": {"displayName": event.location, "locationType": "default", "uniqueIdType": "unknown"},
        "locations": [{"displayName": event.location, "locationType": "default"}] if event.location else [],
        "recurrence": event.recurrence if original_start is None else None,
        "attendees": [a.to_json() for a in event.attendees],
        "organizer": {"emailAddress": {"name": event.organizer_name, "address": event.organizer_address}},
    }
    if original_start is not None:
        data["originalStart"] = format_utc(original_start)
    if event.transaction_id and original_start is None:
        data["transactionId"] = event.transaction_id
    if select:
        wanted = {s.strip().lower() for s in select}
        data = {k: v for k, v in data.items() if k.lower() in wanted or k in ("id", "@odata.etag")}
        if "cancelledoccurrences" in wanted and event.recurrence and original_start is None:
            data["cancelledOccurrences"] = [
                f"OID.{event.id}.{d.astimezone(zone(event.tz)).date().isoformat()}" for d in sorted(event.cancelled)
            ]
    if with_exceptions and event.recurrence and original_start is None:
        data["exceptionOccurrences"] = [
            render_event(event, tz, instance=_exception_instance(event, original))
            for original in sorted(event.exceptions)
            if original not in event.cancelled
        ]
    if ext_ids is not None:
        own = event.exceptions.get(original_start) if original_start is not None else None
        values = {**event.ext, **own.ext} if own is not None else event.ext
        props = [{"id": pid, "value": values[pid]} for pid in ext_ids if pid in values]
        if props:
            data["singleValueExtendedProperties"] = props
    return data


def _exception_instance(event: StoredEvent, original: datetime) -> Instance:
    exc = event.exceptions[original]
    return Instance(
        occurrence_id(event.id, original),
        event,
        original,
        exc.start,
        exc.end,
        exc.subject if exc.subject is not None else event.subject,
        max(event.series_version, exc.version),
        exception=True,
    )


def _occurrence_uid(uid: str, original: datetime) -> str:
    """Graph: iCalUId "is different for each occurrence in a recurring series" (Exchange folds the date in)."""
    return f"{uid[:16]}{original.strftime('%Y%m%d')}{uid[16:]}"
