"""FindItem restrictions evaluated against the items of a calendar folder (singles and series masters).

Supported: And / Or / Not, IsEqualTo / IsNotEqualTo / IsGreaterThan(OrEqualTo) / IsLessThan(OrEqualTo), Contains
(FullString / Prefixed / Substring, IgnoreCase or Exact) and Exists, over a few item fields and any extended
property - including PidLidCleanGlobalObjectId, the binary form of the meeting's UID (how an EWS client finds a
meeting by UID: the UID field itself is not searchable). Anything else is ``ErrorUnsupportedPathForQuery``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime
from typing import Any

from roomsync.sandbox.ews.properties import computed_value, property_ref
from roomsync.sandbox.ews.soap import ItemError, local_name, parse_datetime, t
from roomsync.sandbox.graph.model import StoredEvent

FIELDS: dict[str, Callable[[StoredEvent], object]] = {
    "item:Subject": lambda e: e.subject,
    "calendar:Start": lambda e: e.start,
    "calendar:End": lambda e: e.end,
    "calendar:IsCancelled": lambda e: e.is_cancelled,
    "calendar:IsAllDayEvent": lambda e: e.all_day,
    "calendar:Location": lambda e: e.location,
    "item:LastModifiedTime": lambda e: e.modified,
}
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "IsEqualTo": lambda a, b: a == b,
    "IsNotEqualTo": lambda a, b: a != b,
    "IsGreaterThan": lambda a, b: a > b,
    "IsGreaterThanOrEqualTo": lambda a, b: a >= b,
    "IsLessThan": lambda a, b: a < b,
    "IsLessThanOrEqualTo": lambda a, b: a <= b,
}


def _operand(elem: ET.Element) -> Callable[[StoredEvent], object]:
    uri = elem.find(t("FieldURI"))
    if uri is not None:
        name = uri.get("FieldURI", "")
        if name not in FIELDS:
            raise ItemError("ErrorUnsupportedPathForQuery", f"{name} cannot be used in a restriction")
        return FIELDS[name]
    extended = elem.find(t("ExtendedFieldURI"))
    if extended is not None:
        ref = property_ref(extended)
        return lambda e: computed_value(ref, e.ical_uid, e.all_day, e.ext)
    raise ItemError("ErrorUnsupportedPathForQuery", "the restriction names no property")


def _constant(elem: ET.Element) -> str:
    wrapper = elem.find(t("FieldURIOrConstant"))
    constant = (wrapper if wrapper is not None else elem).find(t("Constant"))
    if constant is None or constant.get("Value") is None:
        raise ItemError("ErrorInvalidRestriction", "the restriction has no constant")
    return constant.get("Value", "")


def _coerce(value: object, text: str) -> object:
    if isinstance(value, bool):
        return text.strip().lower() in ("true", "1")
    if isinstance(value, datetime):
        return parse_datetime(text, "Constant")
    return text


def compile_restriction(elem: ET.Element) -> Callable[[StoredEvent], bool]:
    """A predicate for one restriction element (the child of ``<m:Restriction>``)."""
    kind = local_name(elem.tag)
    if kind in ("And", "Or"):
        parts = [compile_restriction(c) for c in elem]
        return (lambda e: all(p(e) for p in parts)) if kind == "And" else (lambda e: any(p(e) for p in parts))
    if kind == "Not":
        inner = compile_restriction(elem[0])
        return lambda e: not inner(e)
    if kind == "Exists":
        get = _operand(elem)
        return lambda e: get(e) not in (None, "")
    if kind in COMPARISONS:
        get, text, compare = _operand(elem), _constant(elem), COMPARISONS[kind]

        def comparison(event: StoredEvent) -> bool:
            value = get(event)
            return value is not None and bool(compare(value, _coerce(value, text)))

        return comparison
    if kind == "Contains":
        get, text = _operand(elem), _constant(elem)
        mode = elem.get("ContainmentMode", "FullString")
        fold = "IgnoreCase" in elem.get("ContainmentComparison", "Exact")

        def contains(event: StoredEvent) -> bool:
            value = get(event)
            if not isinstance(value, str):
                return False
            haystack, needle = (value.casefold(), text.casefold()) if fold else (value, text)
            if mode == "Substring":
                return needle in haystack
            if mode in ("Prefixed", "PrefixOnWords"):
                return haystack.startswith(needle)
            return haystack == needle

        return contains
    raise ItemError("ErrorUnsupportedQueryFilter", f"restriction {kind} is not supported")
