"""Time-zone names as Exchange writes them in EWS (Windows ids) and as the shared mailbox store keeps them.

The store keeps whatever name a client wrote (Graph accepts IANA and Windows names); EWS always answers with Windows
ids. The mapping is the CLDR table tzlocal ships - deliberately not RoomSync's own zone module, so the emulator stays
an independent check of the connector.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import tz_win, win_tz

_WINDOWS = {name.casefold(): name for name in win_tz}


class UnknownZone(ValueError):
    """Neither a Windows id nor an IANA name."""


@cache
def windows_id(name: str) -> str:
    """The Windows id for a store zone name (``UTC`` stays ``UTC``)."""
    if name.casefold() in ("utc", "etc/utc", "gmt"):
        return "UTC"
    if name.casefold() in _WINDOWS:
        return _WINDOWS[name.casefold()]
    windows = tz_win.get(name)
    if windows is None:
        raise UnknownZone(f"time zone {name!r} has no Windows id")
    return windows


@cache
def zone(name: str) -> ZoneInfo:
    """A ZoneInfo for a Windows id or an IANA name."""
    if name.casefold() in ("utc", "etc/utc", "gmt"):
        return ZoneInfo("UTC")
    windows = _WINDOWS.get(name.casefold())
    try:
        return ZoneInfo(win_tz[windows] if windows else name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownZone(f"unknown time zone {name!r}") from None
