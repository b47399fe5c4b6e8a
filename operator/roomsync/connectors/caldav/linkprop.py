"""RoomSync's own data on a calendar object: the link property and the room's answer comment.

The link (``rs1;<seq>;<fingerprint>;<peer id>``, :class:`~roomsync.model.Link`) goes into ``X-ROOMSYNC-LINK`` on the
master VEVENT, percent-encoded (RFC 3986: everything outside ``A-Z a-z 0-9 - . _ ~`` as ``%XX`` of its UTF-8 bytes).
Why: RFC 5545 TEXT values need ``\\`` ``;`` ``,`` escaped, icalendar writes a plain ``str`` X- value unescaped, and
Radicale cuts an unescaped value at its first comma (docs/caldav.md). A percent-encoded value contains none of those
characters, so it is the same text whether a server or client treats it as TEXT, escapes it or not; and ``rs1%3B2``
stays recognisable to an administrator reading the raw iCalendar.

A room's answer comment rides on its ATTENDEE as ``X-RESPONSE-COMMENT`` (the parameter Thunderbird uses for reply
comments): a quoted parameter value, so only DQUOTE and control characters have to go.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from roomsync.model import Link

LINK_PROPERTY = "X-ROOMSYNC-LINK"
COMMENT_PARAMETER = "X-RESPONSE-COMMENT"
_TEXT_ESCAPES = re.compile(r"\\([\\;,nN])")
_UNQUOTABLE = re.compile(r'["\x00-\x1f\x7f]+')


def encode_link(link: Link) -> str:
    return quote(link.encode(), safe="")


def decode_link(value: object) -> Link | None:
    """The link in a property value; ``None`` for a missing or foreign value. Tolerates a value some client wrote
    (or re-wrote) as escaped TEXT."""
    if value is None:
        return None
    text = _TEXT_ESCAPES.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), str(value).strip())
    return Link.decode(unquote(text))


def comment_parameter(comment: str) -> str:
    """A comment as a quoted parameter value can hold it (one line, no DQUOTE)."""
    return _UNQUOTABLE.sub(" ", comment.replace('"', "'")).strip()
