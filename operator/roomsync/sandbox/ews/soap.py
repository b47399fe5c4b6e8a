"""SOAP envelopes as Exchange writes them: namespaces, the ServerVersionInfo header, response messages, faults.

Only the standard library's ElementTree is used; requests are parsed into elements and answers built as elements, so
the operations never concatenate XML by hand.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
for _prefix, _uri in (("s", SOAP), ("m", M), ("t", T), ("e", E)):
    ET.register_namespace(_prefix, _uri)

#: Exchange 2016 CU23, what the header of every answer names.
SERVER_VERSION = {
    "MajorVersion": "15",
    "MinorVersion": "1",
    "MajorBuildNumber": "2507",
    "MinorBuildNumber": "6",
    "Version": "V2017_07_11",
}


class SoapFault(Exception):
    """Becomes an HTTP 500 with a SOAP Fault (how Exchange reports errors outside a response message)."""

    def __init__(self, code: str, message: str, *, back_off_ms: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.back_off_ms = code, message, back_off_ms


class ItemError(Exception):
    """An error for one item of a request: a response message with ResponseClass="Error"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def m(tag: str) -> str:
    return f"{{{M}}}{tag}"


def t(tag: str) -> str:
    return f"{{{T}}}{tag}"


def sub(parent: ET.Element, tag: str, text: object = None, **attrs: object) -> ET.Element:
    """A child element; ``text`` and attribute values are turned into EWS spellings (booleans lower case)."""
    child = ET.SubElement(parent, tag, {k: _text(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        child.text = _text(text)
    return child


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return ews_datetime(value)
    return str(value)


def ews_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: str | None, what: str) -> datetime:
    """An xs:dateTime as EWS clients send it (UTC ``Z``, an offset, or - with the TimeZoneContext - local time)."""
    if not text:
        raise ItemError("ErrorInvalidValueForProperty", f"{what} is missing")
    raw = text.strip().replace("Z", "+00:00")
    if "." in raw:
        head, _, tail = raw.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        raw = head + tail[len(digits) :]
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ItemError("ErrorInvalidValueForProperty", f"{what} {text!r} is not a date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_request(body: bytes) -> tuple[ET.Element | None, ET.Element]:
    """(SOAP header, the operation element) of a request; raises :class:`SoapFault` for what is not SOAP."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise SoapFault("ErrorSchemaValidation", f"The request failed schema validation: {exc}") from None
    if root.tag != f"{{{SOAP}}}Envelope":
        raise SoapFault("ErrorSchemaValidation", "The request is not a SOAP envelope.")
    header = root.find(f"{{{SOAP}}}Header")
    body_elem = root.find(f"{{{SOAP}}}Body")
    if body_elem is None or len(body_elem) == 0:
        raise SoapFault("ErrorSchemaValidation", "The SOAP body is empty.")
    return header, body_elem[0]


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def envelope(content: ET.Element | None) -> ET.Element:
    root = ET.Element(f"{{{SOAP}}}Envelope")
    header = ET.SubElement(root, f"{{{SOAP}}}Header")
    ET.SubElement(header, t("ServerVersionInfo"), SERVER_VERSION)
    body = ET.SubElement(root, f"{{{SOAP}}}Body")
    if content is not None:
        body.append(content)
    return root


def to_bytes(root: ET.Element) -> bytes:
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>' + data


def response(operation: str, messages: Iterable[ET.Element]) -> ET.Element:
    """``<m:{Op}Response><m:ResponseMessages>...``: one message per requested item, in order."""
    outer = ET.Element(m(f"{operation}Response"))
    container = ET.SubElement(outer, m("ResponseMessages"))
    for message in messages:
        container.append(message)
    return outer


def success(operation: str) -> ET.Element:
    message = ET.Element(m(f"{operation}ResponseMessage"), {"ResponseClass": "Success"})
    sub(message, m("ResponseCode"), "NoError")
    return message


def error(operation: str, code: str, text: str) -> ET.Element:
    message = ET.Element(m(f"{operation}ResponseMessage"), {"ResponseClass": "Error"})
    sub(message, m("MessageText"), text)
    sub(message, m("ResponseCode"), code)
    sub(message, m("DescriptiveLinkKey"), 0)
    return message


def fault(code: str, message: str, *, back_off_ms: int | None = None) -> ET.Element:
    """A SOAP fault as Exchange sends it (``ErrorServerBusy`` carries BackOffMilliseconds in MessageXml)."""
    root = ET.Element(f"{{{SOAP}}}Envelope")
    body = ET.SubElement(root, f"{{{SOAP}}}Body")
    elem = ET.SubElement(body, f"{{{SOAP}}}Fault")
    code_elem = ET.SubElement(elem, "faultcode")
    code_elem.text = f"a:{code}"
    string = ET.SubElement(elem, "faultstring", {"{http://www.w3.org/XML/1998/namespace}lang": "en-US"})
    string.text = message
    detail = ET.SubElement(elem, "detail")
    sub(detail, f"{{{E}}}ResponseCode", code)
    sub(detail, f"{{{E}}}Message", message)
    if back_off_ms is not None:
        xml = sub(detail, t("MessageXml"))
        sub(xml, t("Value"), back_off_ms, Name="BackOffMilliseconds")
    return root
