"""Extended properties and item shapes: what an EWS request asks to see, and how a named property is spelled.

The store keeps extended properties under their Graph ids (``String {guid} Name RoomSyncLink``) - one Exchange, two
faces - so an EWS ``ExtendedFieldURI`` is translated into that id. ``PS_PUBLIC_STRINGS`` is the same property set
whichever API writes it, which is what lets a mailbox migrated from EWS to Graph keep its links.
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from roomsync.sandbox.ews.soap import ItemError, t

#: DistinguishedPropertySetId -> property set GUID (MS-OXPROPS).
PROPERTY_SETS = {
    "publicstrings": "{00020329-0000-0000-C000-000000000046}",
    "common": "{00062008-0000-0000-C000-000000000046}",
    "appointment": "{00062002-0000-0000-C000-000000000046}",
    "meeting": "{6ED8DA90-450B-101B-98DA-00AA003F1305}",
    "internetheaders": "{00020386-0000-0000-C000-000000000046}",
    "address": "{00062004-0000-0000-C000-000000000046}",
    "task": "{00062003-0000-0000-C000-000000000046}",
}
MEETING = PROPERTY_SETS["meeting"]
APPOINTMENT = PROPERTY_SETS["appointment"]
#: PidLidGlobalObjectId / PidLidCleanGlobalObjectId: the meeting's identity (its UID as bytes).
GLOBAL_OBJECT_IDS = (0x3, 0x23)
#: PidLidAppointmentSubType: the all-day flag behind IsAllDayEvent.
APPOINTMENT_SUB_TYPE = 0x8215


@dataclass(frozen=True)
class PropertyRef:
    """One ExtendedFieldURI, normalised."""

    type: str
    property_set: str | None = None
    name: str | None = None
    number: int | None = None
    tag: int | None = None

    @property
    def key(self) -> str:
        """The store (Graph) id of the property."""
        if self.tag is not None:
            return f"{self.type} 0x{self.tag:04x}"
        if self.name is not None:
            return f"{self.type} {self.property_set} Name {self.name}"
        return f"{self.type} {self.property_set} Id 0x{self.number:x}"

    @property
    def is_global_object_id(self) -> bool:
        return self.property_set == MEETING and self.number in GLOBAL_OBJECT_IDS and self.type.lower() == "binary"

    @property
    def is_all_day_flag(self) -> bool:
        return self.property_set == APPOINTMENT and self.number == APPOINTMENT_SUB_TYPE

    def element(self) -> ET.Element:
        attrs: dict[str, str] = {"PropertyType": self.type}
        if self.tag is not None:
            attrs["PropertyTag"] = f"0x{self.tag:04x}"
        else:
            named = {v: k for k, v in PROPERTY_SETS.items()}.get(self.property_set or "")
            if named == "publicstrings":
                attrs["DistinguishedPropertySetId"] = "PublicStrings"
            else:
                attrs["PropertySetId"] = (self.property_set or "").strip("{}").lower()  # as .NET writes a Guid
            if self.name is not None:
                attrs["PropertyName"] = self.name
            else:
                attrs["PropertyId"] = str(self.number)
        return ET.Element(t("ExtendedFieldURI"), attrs)


def _number(value: str) -> int:
    try:
        return int(value, 16) if value.lower().startswith("0x") else int(value)
    except ValueError:
        raise ItemError("ErrorInvalidExtendedProperty", f"{value!r} is not a property number") from None


def property_ref(elem: ET.Element) -> PropertyRef:
    """Read an ``<t:ExtendedFieldURI>``; raises ``ErrorInvalidExtendedProperty`` for an incomplete one."""
    kind = elem.get("PropertyType")
    if not kind:
        raise ItemError("ErrorInvalidExtendedProperty", "ExtendedFieldURI needs a PropertyType")
    if elem.get("PropertyTag"):
        return PropertyRef(kind, tag=_number(elem.get("PropertyTag", "")))
    distinguished = elem.get("DistinguishedPropertySetId")
    if distinguished:
        property_set = PROPERTY_SETS.get(distinguished.lower())
        if property_set is None:
            raise ItemError("ErrorInvalidExtendedProperty", f"unknown property set {distinguished!r}")
    elif elem.get("PropertySetId"):
        property_set = "{" + elem.get("PropertySetId", "").strip("{}").upper() + "}"
    else:
        raise ItemError("ErrorInvalidExtendedProperty", "ExtendedFieldURI names no property set")
    if elem.get("PropertyName"):
        return PropertyRef(kind, property_set, name=elem.get("PropertyName"))
    if elem.get("PropertyId"):
        return PropertyRef(kind, property_set, number=_number(elem.get("PropertyId", "")))
    raise ItemError("ErrorInvalidExtendedProperty", "ExtendedFieldURI needs PropertyName or PropertyId")


def stored_value(ext: dict[str, str], ref: PropertyRef) -> str | None:
    """The value under ``ref`` in an item's properties (set GUIDs and types compare case-insensitively)."""
    wanted = _fold(ref.key)
    return next((v for k, v in ext.items() if _fold(k) == wanted), None)


def store_key(ext: dict[str, str], ref: PropertyRef) -> str:
    """The key ``ref`` is stored under: an existing spelling is kept, so both faces write one property."""
    wanted = _fold(ref.key)
    return next((k for k in ext if _fold(k) == wanted), ref.key)


def _fold(key: str) -> str:
    parts = key.split(" ")
    if len(parts) == 4:  # Type {guid} Name|Id value: the name stays case-sensitive
        return f"{parts[0].lower()} {parts[1].upper()} {parts[2].lower()} {parts[3]}"
    return key.lower()


def computed_value(ref: PropertyRef, ical_uid: str, all_day: bool, ext: dict[str, str]) -> str | None:
    """A MAPI property Exchange derives from the item (its GOID, its all-day flag), or a stored one."""
    if ref.is_global_object_id:
        return goid(ical_uid)
    if ref.is_all_day_flag:
        return "true" if all_day else "false"
    return stored_value(ext, ref)


def goid(ical_uid: str) -> str | None:
    """PidLidCleanGlobalObjectId as EWS shows a Binary value (base64), for UIDs in Exchange's hex GOID form."""
    try:
        return base64.b64encode(binascii.unhexlify(ical_uid)).decode()
    except (binascii.Error, ValueError):
        return None


@dataclass
class Shape:
    """An ItemShape: a base shape plus additional properties."""

    base: str = "IdOnly"
    fields: set[str] = field(default_factory=set)
    extended: list[PropertyRef] = field(default_factory=list)

    def wants(self, field_uri: str) -> bool:
        return (
            self.base == "AllProperties"
            or field_uri in self.fields
            or (self.base == "Default" and field_uri in DEFAULT)
        )


#: What BaseShape Default returns for a calendar item.
DEFAULT = frozenset(
    {
        "item:Subject",
        "item:ItemClass",
        "calendar:Start",
        "calendar:End",
        "calendar:UID",
        "calendar:IsAllDayEvent",
        "calendar:CalendarItemType",
        "calendar:Organizer",
        "calendar:MyResponseType",
        "calendar:IsCancelled",
        "calendar:LegacyFreeBusyStatus",
        "calendar:Location",
    }
)


def parse_shape(elem: ET.Element | None) -> Shape:
    if elem is None:
        return Shape()
    base = elem.find(t("BaseShape"))
    shape = Shape(base=(base.text or "IdOnly").strip() if base is not None else "IdOnly")
    if shape.base not in ("IdOnly", "Default", "AllProperties"):
        raise ItemError("ErrorInvalidRequest", f"BaseShape {shape.base!r} is invalid")
    extra = elem.find(t("AdditionalProperties"))
    for child in extra if extra is not None else []:
        if child.tag == t("FieldURI"):
            shape.fields.add(child.get("FieldURI", ""))
        elif child.tag == t("ExtendedFieldURI"):
            shape.extended.append(property_ref(child))
    return shape
