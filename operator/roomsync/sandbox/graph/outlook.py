"""What a person does in Outlook, in the admin API's terms (ISO instants, lists of addresses), turned into the
Graph bodies Outlook would send: used by the admin endpoints and by a fault that edits a meeting the moment a write
arrives (a person's edit between RoomSync's read and its write).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from roomsync.sandbox.graph.calendar import Calendars
from roomsync.sandbox.graph.model import StoredEvent
from roomsync.sandbox.graph.zones import zone


def local_value(value: str, tz: str) -> dict[str, str]:
    """An ISO instant (with offset) as a Graph dateTimeTimeZone in ``tz``."""
    instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=zone(tz))
    local = instant.astimezone(zone(tz))
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": tz}


def attendee_list(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Graph attendees from ``rooms`` (resources), ``attendees`` (required) and ``optional`` address lists."""
    result = []
    for kind, key in (("resource", "rooms"), ("required", "attendees"), ("optional", "optional")):
        for item in data.get(key) or []:
            address = item if isinstance(item, str) else item.get("address")
            result.append({"type": kind, "emailAddress": {"address": address}})
    return result


def edit_body(event: StoredEvent, data: dict[str, Any]) -> dict[str, Any]:
    """The PATCH the organizer's Outlook sends for ``data``: subject, body, start, end, recurrence, people."""
    tz = data.get("timeZone") or event.tz
    patch: dict[str, Any] = {}
    if "subject" in data:
        patch["subject"] = data["subject"]
    if "body" in data:
        patch["body"] = {"contentType": "text", "content": data["body"]}
    if "start" in data:
        patch["start"] = local_value(data["start"], tz)
    if "end" in data:
        patch["end"] = local_value(data["end"], tz)
    if "recurrence" in data:
        patch["recurrence"] = data["recurrence"]
    if {"rooms", "attendees", "optional"} & set(data):
        current = {
            "rooms": [a.address for a in event.attendees if a.type == "resource"],
            "attendees": [a.address for a in event.attendees if a.type == "required"],
            "optional": [a.address for a in event.attendees if a.type == "optional"],
        }
        current.update({k: data[k] for k in ("rooms", "attendees", "optional") if k in data})
        patch["attendees"] = attendee_list(current)
    return patch


def edit(calendars: Calendars, data: dict[str, Any]) -> StoredEvent:
    """The organizer (for a meeting a room organises: the room's delegate) changes the meeting ``data["iCalUId"]``;
    raises NotFoundError or BadRequest."""
    box, event = calendars.meeting(data["iCalUId"])
    calendars.update(box, event.id, edit_body(event, data))
    return event
