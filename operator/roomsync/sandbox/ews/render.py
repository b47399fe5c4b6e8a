"""Store items as EWS ``<t:CalendarItem>`` elements, honouring the requested shape.

What an item looks like through EWS, compared with Graph: the same UID (Graph's iCalUId), the same item ids, start
and end in UTC with the series' Windows zone in StartTimeZone, CalendarItemType Single / Occurrence / Exception /
RecurringMaster, and - on masters - ModifiedOccurrences and DeletedOccurrences. The ChangeKey of a series is shared by
the master and all its occurrences ("if either the recurring master or any of its occurrences change, the ChangeKey
changes").
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

from roomsync.sandbox.ews import recurrence as rec
from roomsync.sandbox.ews.properties import Shape, computed_value
from roomsync.sandbox.ews.soap import sub, t
from roomsync.sandbox.ews.zones import UnknownZone, windows_id
from roomsync.sandbox.graph.model import Attendee, Instance, StoredEvent, occurrence_id
from roomsync.sandbox.graph.model import change_key as graph_change_key
from roomsync.sandbox.graph.recurrence import original_starts

RESPONSES = {
    "organizer": "Organizer",
    "accepted": "Accept",
    "tentativelyAccepted": "Tentative",
    "declined": "Decline",
    "notResponded": "NoResponseReceived",
    "none": "Unknown",
}
FREE_BUSY = {
    "busy": "Busy",
    "tentative": "Tentative",
    "free": "Free",
    "oof": "OOF",
    "workingElsewhere": "WorkingElsewhere",
}


def change_key(event: StoredEvent) -> str:
    """The item's ChangeKey: the Graph face's changeKey of the same item (one Exchange, two faces); an occurrence
    carries its series' key, a mailbox move changes every key with the ids."""
    return graph_change_key(event.id, event.version)


def item_type(event: StoredEvent, instance: Instance | None) -> str:
    if instance is not None and instance.original_start is not None:
        return "Exception" if instance.exception else "Occurrence"
    return "RecurringMaster" if event.recurrence else "Single"


def _mailbox(parent: ET.Element, address: str, name: str = "") -> None:
    box = sub(parent, t("Mailbox"))
    sub(box, t("Name"), name or address)
    sub(box, t("EmailAddress"), address)
    sub(box, t("RoutingType"), "SMTP")
    sub(box, t("MailboxType"), "Mailbox")


def _attendees(parent: ET.Element, tag: str, attendees: list[Attendee]) -> None:
    if not attendees:
        return
    container = sub(parent, t(tag))
    for attendee in attendees:
        elem = sub(container, t("Attendee"))
        _mailbox(elem, attendee.address, attendee.name)
        sub(elem, t("ResponseType"), RESPONSES.get(attendee.response, "Unknown"))
        if attendee.time and not attendee.time.startswith("0001"):
            sub(elem, t("LastResponseTime"), attendee.time.replace("+00:00", "Z"))


def _zone(event: StoredEvent) -> str:
    try:
        return windows_id(event.tz)
    except UnknownZone:
        return "UTC"


def _occurrence(parent: ET.Element, tag: str, event: StoredEvent, original: datetime) -> None:
    exc = event.exceptions.get(original)
    duration = event.end - event.start
    elem = sub(parent, t(tag))
    sub(elem, t("ItemId"), Id=occurrence_id(event.id, original), ChangeKey=change_key(event))
    sub(elem, t("Start"), exc.start if exc else original)
    sub(elem, t("End"), exc.end if exc else original + duration)
    sub(elem, t("OriginalStart"), original)


def _series_bounds(event: StoredEvent) -> tuple[datetime | None, datetime | None]:
    assert event.recurrence is not None
    rng = event.recurrence["range"]
    if rng["type"] == "noEnd":
        starts = original_starts(event.recurrence, event.start, event.tz, event.start)
        return (starts[0] if starts else None), None
    limit = event.start.replace(year=event.start.year + 100)
    starts = original_starts(event.recurrence, event.start, event.tz, limit)
    return (starts[0] if starts else None), (starts[-1] if starts else None)


def render_item(event: StoredEvent, shape: Shape, instance: Instance | None = None) -> ET.Element:
    """The CalendarItem element of a stored item (``instance`` given: an occurrence or exception of it)."""
    elem = ET.Element(t("CalendarItem"))
    is_instance = instance is not None and instance.original_start is not None
    item_id = instance.id if instance is not None else event.id
    sub(elem, t("ItemId"), Id=item_id, ChangeKey=change_key(event))
    start = instance.start if instance is not None else event.start
    end = instance.end if instance is not None else event.end
    subject = instance.subject if instance is not None else event.subject
    values: dict[str, Any] = {
        "item:ItemClass": "IPM.Appointment",
        "item:Subject": subject,
        "item:Sensitivity": "Normal",
        "item:DateTimeCreated": event.created,
        "item:DateTimeReceived": event.created,
        "item:LastModifiedTime": event.modified,
        "item:Importance": "Normal",
        "item:IsDraft": False,
        "calendar:UID": event.ical_uid,
        "calendar:Start": start,
        "calendar:End": end,
        "calendar:IsAllDayEvent": event.all_day,
        "calendar:LegacyFreeBusyStatus": FREE_BUSY.get(event.show_as, "Busy"),
        "calendar:Location": event.location,
        "calendar:IsMeeting": bool(event.attendees) or not event.is_organizer,
        "calendar:IsCancelled": event.is_cancelled,
        "calendar:IsRecurring": is_instance,
        "calendar:IsResponseRequested": True,
        "calendar:CalendarItemType": item_type(event, instance),
        "calendar:MyResponseType": RESPONSES.get(event.response, "Unknown"),
        "calendar:AppointmentSequenceNumber": event.version,
        "calendar:AppointmentState": (1 if event.attendees or not event.is_organizer else 0)
        | (0 if event.is_organizer else 2)
        | (4 if event.is_cancelled else 0),
    }
    order = [
        "item:ItemClass",
        "item:Subject",
        "item:Sensitivity",
        "item:Body",
        "item:DateTimeReceived",
        "item:Importance",
        "item:IsDraft",
    ]
    for uri in order:
        if uri == "item:Body" and shape.wants(uri):
            sub(elem, t("Body"), event.body, BodyType="Text")
        elif uri in values and shape.wants(uri):
            sub(elem, t(uri.split(":", 1)[1]), values[uri])
    for ref in shape.extended:
        value = computed_value(ref, event.ical_uid, event.all_day, event.ext)
        if value is None:
            continue
        prop = sub(elem, t("ExtendedProperty"))
        prop.append(ref.element())
        sub(prop, t("Value"), value)
    for uri in ("item:DateTimeCreated", "item:LastModifiedTime", "calendar:UID", "calendar:Start", "calendar:End"):
        if shape.wants(uri):
            sub(elem, t(uri.split(":", 1)[1]), values[uri])
    if is_instance and shape.wants("calendar:OriginalStart"):
        assert instance is not None
        sub(elem, t("OriginalStart"), instance.original_start)
    for uri in (
        "calendar:IsAllDayEvent",
        "calendar:LegacyFreeBusyStatus",
        "calendar:Location",
        "calendar:IsMeeting",
        "calendar:IsCancelled",
        "calendar:IsRecurring",
        "calendar:IsResponseRequested",
        "calendar:CalendarItemType",
        "calendar:MyResponseType",
    ):
        if shape.wants(uri):
            sub(elem, t(uri.split(":", 1)[1]), values[uri])
    if shape.wants("calendar:Organizer"):
        _mailbox(sub(elem, t("Organizer")), event.organizer_address, event.organizer_name)
    for uri, kind in (
        ("calendar:RequiredAttendees", "required"),
        ("calendar:OptionalAttendees", "optional"),
        ("calendar:Resources", "resource"),
    ):
        if shape.wants(uri):
            _attendees(elem, uri.split(":", 1)[1], [a for a in event.attendees if a.type == kind])
    for uri in ("calendar:AppointmentSequenceNumber", "calendar:AppointmentState"):
        if shape.wants(uri):
            sub(elem, t(uri.split(":", 1)[1]), values[uri])
    if event.recurrence and not is_instance:
        if shape.wants("calendar:Recurrence"):
            rec.to_ews(elem, event.recurrence)
        first, last = _series_bounds(event) if shape.wants("calendar:FirstOccurrence") else (None, None)
        if first is not None:
            _occurrence(elem, "FirstOccurrence", event, first)
        if last is not None and shape.wants("calendar:LastOccurrence"):
            _occurrence(elem, "LastOccurrence", event, last)
        modified = [o for o in sorted(event.exceptions) if o not in event.cancelled]
        if modified and shape.wants("calendar:ModifiedOccurrences"):
            container = sub(elem, t("ModifiedOccurrences"))
            for original in modified:
                _occurrence(container, "Occurrence", event, original)
        if event.cancelled and shape.wants("calendar:DeletedOccurrences"):
            container = sub(elem, t("DeletedOccurrences"))
            for original in sorted(event.cancelled):
                sub(sub(container, t("DeletedOccurrence")), t("Start"), original)
    for uri in ("calendar:StartTimeZone", "calendar:EndTimeZone"):
        if shape.wants(uri):
            zone_id = _zone(event)
            sub(elem, t(uri.split(":", 1)[1]), Id=zone_id, Name=zone_id)
    return elem
