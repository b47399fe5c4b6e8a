"""RoomSync's named extended properties as exchangelib attributes of ``CalendarItem``.

exchangelib registers extended properties on the item class, process-wide; each property name gets one attribute
(``roomsync_roomsynclink``), so Connections naming the same property share it and one naming another gets its own.
Registration happens when a client opens, never at import.

``CleanGlobalObjectId`` (PidLidCleanGlobalObjectId, the meeting's UID as bytes) is how an EWS client finds a meeting
by UID: the UID field itself cannot be used in a restriction.
"""

from __future__ import annotations

import re
import threading

from exchangelib import CalendarItem
from exchangelib.extended_properties import ExtendedProperty

GOID_ATTRIBUTE = "roomsync_clean_goid"
ALL_DAY_ATTRIBUTE = "roomsync_all_day"
_lock = threading.Lock()


class CleanGlobalObjectId(ExtendedProperty):  # type: ignore[misc]
    property_set_id = "6ED8DA90-450B-101B-98DA-00AA003F1305"  # PSETID_Meeting
    property_id = 0x23
    property_type = "Binary"


class AppointmentSubType(ExtendedProperty):  # type: ignore[misc]
    """PidLidAppointmentSubType, the all-day flag. Read instead of IsAllDayEvent because exchangelib turns the times
    of an item it knows is all-day into dates by subtracting 24 hours from the end, which loses a day when the last
    day is the short one of a DST change; read this way, start and end stay exact instants."""

    property_set_id = "00062002-0000-0000-C000-000000000046"  # PSETID_Appointment
    property_id = 0x8215
    property_type = "Boolean"


def attribute(name: str) -> str:
    return "roomsync_" + re.sub(r"\W", "_", name).lower()


def _registered(name: str) -> bool:
    return any(f.name == name for f in CalendarItem.FIELDS)


def register(property_name: str) -> str:
    """The CalendarItem attribute for a PS_PUBLIC_STRINGS string property (registered on first use)."""
    attr = attribute(property_name)
    with _lock:
        if not _registered(attr):
            class_name = "RoomSync" + re.sub(r"\W", "", property_name.title()) + "Property"
            prop = type(
                class_name,
                (ExtendedProperty,),
                {
                    "distinguished_property_set_id": "PublicStrings",  # PS_PUBLIC_STRINGS, as Graph's
                    "property_name": property_name,
                    "property_type": "String",
                },
            )
            CalendarItem.register(attr, prop)
        if not _registered(GOID_ATTRIBUTE):
            CalendarItem.register(GOID_ATTRIBUTE, CleanGlobalObjectId)
        if not _registered(ALL_DAY_ATTRIBUTE):
            CalendarItem.register(ALL_DAY_ATTRIBUTE, AppointmentSubType)
    return attr
