"""EWS item XML in: a ``<t:CalendarItem>`` to create, or the SetItemField / DeleteItemField updates of an
``<t:ItemChange>``, turned into the body the shared store's calendar operations take (the Graph event shape).

Times arrive as instants (``Z`` or an offset; a bare local time is read in the request's TimeZoneContext); the
store keeps them in the item's start zone, as Exchange keeps a meeting's own zone.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, time
from typing import Any

from roomsync.sandbox.ews import recurrence as rec
from roomsync.sandbox.ews.properties import property_ref, store_key
from roomsync.sandbox.ews.soap import ItemError, local_name, parse_datetime, t
from roomsync.sandbox.ews.zones import UnknownZone, zone

READ_ONLY = frozenset(
    {
        "calendar:Organizer",
        "calendar:IsCancelled",
        "calendar:IsMeeting",
        "calendar:IsRecurring",
        "calendar:CalendarItemType",
        "calendar:MyResponseType",
        "calendar:OriginalStart",
        "calendar:ModifiedOccurrences",
        "calendar:DeletedOccurrences",
        "calendar:FirstOccurrence",
        "calendar:LastOccurrence",
        "calendar:AppointmentState",
        "item:DateTimeCreated",
        "item:LastModifiedTime",
    }
)
ATTENDEE_FIELDS = {"RequiredAttendees": "required", "OptionalAttendees": "optional", "Resources": "resource"}


def _text(elem: ET.Element, tag: str) -> str | None:
    child = elem.find(t(tag))
    return child.text if child is not None and child.text is not None else None


def _zone_of(elem: ET.Element, tag: str) -> str | None:
    child = elem.find(t(tag))
    if child is None:
        return None
    name = child.get("Id") or child.get("Name")
    if not name:
        return None
    try:
        zone(name)
    except UnknownZone:
        raise ItemError("ErrorTimeZone", f"{tag} {name!r} is not a time zone this server knows") from None
    return name


def _boolean(text: str | None) -> bool:
    """An xs:boolean: ``true`` or ``1`` (exchangelib writes the digit)."""
    return (text or "").strip() in ("true", "1")


def _when(value: datetime, tz: str, *, all_day: bool) -> dict[str, str]:
    local = value.astimezone(zone(tz))
    if all_day:
        local = datetime.combine(local.date(), time())
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": tz}


def _instant(elem: ET.Element, tag: str, context_tz: str) -> datetime | None:
    text = _text(elem, tag)
    if text is None:
        return None
    value = parse_datetime(text, tag)
    if text.strip()[-1:].isdigit() and "+" not in text[10:] and "-" not in text[10:]:
        value = value.replace(tzinfo=zone(context_tz))  # a bare local time: the TimeZoneContext's zone
    return value


def _attendees(elem: ET.Element) -> list[dict[str, Any]]:
    result = []
    for tag, kind in ATTENDEE_FIELDS.items():
        container = elem.find(t(tag))
        for attendee in container if container is not None else []:
            box = attendee.find(t("Mailbox"))
            address = (_text(box, "EmailAddress") or "").strip() if box is not None else ""
            if "@" not in address:
                raise ItemError("ErrorInvalidRecipients", f"attendee address {address!r} is invalid")
            name = _text(box, "Name") or "" if box is not None else ""
            result.append({"type": kind, "emailAddress": {"address": address, "name": name}})
    return result


def extended_properties(elem: ET.Element, existing: dict[str, str]) -> list[dict[str, str]]:
    props = []
    for prop in elem.findall(t("ExtendedProperty")):
        uri = prop.find(t("ExtendedFieldURI"))
        if uri is None:
            raise ItemError("ErrorInvalidExtendedProperty", "ExtendedProperty without ExtendedFieldURI")
        ref = property_ref(uri)
        value = _text(prop, "Value")
        if value is None:
            raise ItemError("ErrorInvalidExtendedPropertyValue", f"{ref.key} has no Value")
        props.append({"id": store_key(existing, ref), "value": value})
    return props


def new_item(elem: ET.Element, context_tz: str) -> tuple[dict[str, Any], str | None]:
    """(store body, client-chosen UID) for a CalendarItem to create."""
    tz = _zone_of(elem, "StartTimeZone") or _zone_of(elem, "MeetingTimeZone") or context_tz
    all_day = _boolean(_text(elem, "IsAllDayEvent"))
    start, end = _instant(elem, "Start", context_tz), _instant(elem, "End", context_tz)
    if start is None or end is None:
        raise ItemError("ErrorMissingInformation", "a calendar item needs Start and End")
    body: dict[str, Any] = {
        "subject": _text(elem, "Subject") or "",
        "start": _when(start, tz, all_day=all_day),
        "end": _when(end, tz, all_day=all_day),
        "isAllDay": all_day,
        "attendees": _attendees(elem),
        "singleValueExtendedProperties": extended_properties(elem, {}),
    }
    if _text(elem, "Body") is not None:
        body["body"] = {"contentType": "text", "content": _text(elem, "Body")}
    if _text(elem, "Location") is not None:
        body["location"] = {"displayName": _text(elem, "Location")}
    recurrence = elem.find(t("Recurrence"))
    if recurrence is not None:
        body["recurrence"] = rec.from_ews(recurrence, tz)
    uid = _text(elem, "UID")
    return body, uid.strip() if uid else None


def _field_uri(update: ET.Element) -> tuple[str | None, ET.Element | None]:
    uri = update.find(t("FieldURI"))
    if uri is not None:
        return uri.get("FieldURI"), None
    extended = update.find(t("ExtendedFieldURI"))
    if extended is not None:
        return None, extended
    raise ItemError("ErrorInvalidPropertySet", "an update names no property")


def changes(
    updates: ET.Element,
    *,
    current_tz: str,
    current_all_day: bool,
    ext: dict[str, str],
    attendees: list[Any],
    ctx_tz: str,
) -> dict[str, Any]:
    """The store patch for the ``<t:Updates>`` of one ItemChange."""
    patch: dict[str, Any] = {}
    props: list[dict[str, str]] = []
    kinds: dict[str, list[dict[str, Any]]] = {}
    instants: dict[str, datetime] = {}
    tz = current_tz
    all_day = current_all_day
    for update in updates:
        action = local_name(update.tag)
        uri, extended = _field_uri(update)
        item = next((c for c in update if local_name(c.tag) in ("CalendarItem", "Item")), None)
        if extended is not None:
            if action == "DeleteItemField":
                props.append({"id": store_key(ext, property_ref(extended)), "value": ""})
            elif item is not None:
                props += extended_properties(item, ext)
            continue
        if uri in READ_ONLY:
            raise ItemError("ErrorInvalidPropertySet", f"{uri} cannot be set")
        name = (uri or "").split(":", 1)[-1]
        if action == "DeleteItemField":
            if name == "Recurrence":
                patch["recurrence"] = None
            elif name in ATTENDEE_FIELDS:
                kinds[ATTENDEE_FIELDS[name]] = []
            elif name in ("Body", "Location", "Subject"):
                patch[name.lower()] = {"contentType": "text", "content": ""} if name == "Body" else ""
            continue
        if item is None:
            raise ItemError("ErrorInvalidPropertySet", f"{action} of {uri} carries no item")
        if name == "Subject":
            patch["subject"] = _text(item, "Subject") or ""
        elif name == "Body":
            patch["body"] = {"contentType": "text", "content": _text(item, "Body") or ""}
        elif name == "Location":
            patch["location"] = {"displayName": _text(item, "Location") or ""}
        elif name in ("Start", "End"):
            value = _instant(item, name, ctx_tz)
            if value is None:
                raise ItemError("ErrorInvalidPropertySet", f"{uri} has no value")
            instants[name.lower()] = value
        elif name in ("StartTimeZone", "EndTimeZone", "MeetingTimeZone"):
            tz = _zone_of(item, name) or tz
        elif name == "IsAllDayEvent":
            all_day = _boolean(_text(item, "IsAllDayEvent"))
            patch["isAllDay"] = all_day
        elif name == "Recurrence":
            recurrence = item.find(t("Recurrence"))
            patch["recurrence"] = rec.from_ews(recurrence, tz) if recurrence is not None else None
        elif name in ATTENDEE_FIELDS:
            group = [a for a in _attendees(item) if a["type"] == ATTENDEE_FIELDS[name]]
            if action == "AppendToItemField":
                group = [*kinds.get(ATTENDEE_FIELDS[name], []), *group]
            kinds[ATTENDEE_FIELDS[name]] = group
        # other writable properties (reminders, categories, free/busy) are accepted and not kept
    for key, value in instants.items():
        patch[key] = _when(value, tz, all_day=all_day)
    # a zone change alone does not move the meeting (the instants stay)
    if kinds:
        current = {
            kind: [
                {"type": a.type, "emailAddress": {"address": a.address, "name": a.name}}
                for a in attendees
                if a.type == kind
            ]
            for kind in ATTENDEE_FIELDS.values()
        }
        current.update(kinds)
        patch["attendees"] = [a for kind in ATTENDEE_FIELDS.values() for a in current[kind]]
    if props:
        patch["singleValueExtendedProperties"] = props
    if "recurrence" in patch and patch["recurrence"] is not None:
        patch["recurrence"]["range"]["recurrenceTimeZone"] = tz
    return patch
