"""Time-zone names as the backends spell them.

Exchange speaks Windows zone names ("W. Europe Standard Time"), Planon and the RoomSync API speak IANA
("Europe/Amsterdam"). Every zone that enters the model goes through :func:`to_iana`, so two spellings of one zone
never look like a change.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from tzlocal.windows_tz import tz_win, win_tz


class UnknownTimeZone(ValueError):
    """A zone name that is neither IANA nor Windows."""


# The CLDR windowsZones table as tzlocal ships it: every IANA zone has a Windows name, every Windows name a
# preferred IANA zone.
_WINDOWS_TO_IANA: dict[str, str] = {name.casefold(): iana for name, iana in win_tz.items()}
_WINDOWS_TO_IANA.setdefault("utc", "UTC")


@cache
def _iana_by_folded_name() -> dict[str, str]:
    return {name.casefold(): name for name in available_timezones()}


@cache
def to_iana(name: str) -> str:
    """Return the IANA name for an IANA or Windows zone name; raise :class:`UnknownTimeZone` otherwise."""
    stripped = name.strip()
    folded = stripped.casefold()
    if folded in ("utc", "etc/utc", "z", "gmt"):
        return "UTC"
    iana = _iana_by_folded_name().get(folded)
    if iana is not None:
        return iana
    windows = _WINDOWS_TO_IANA.get(folded)
    if windows is not None:
        return windows
    raise UnknownTimeZone(f"unknown time zone {name!r}: expected an IANA name (Europe/Amsterdam) or a Windows name")


@cache
def to_windows(iana: str) -> str:
    """Return a Windows zone name for an IANA zone (Exchange on-premise needs one); the IANA name when unmapped."""
    iana = to_iana(iana)
    if iana == "UTC":
        return "UTC"
    windows: str = tz_win.get(iana, iana)
    return windows


def zone(name: str) -> ZoneInfo:
    """A ``ZoneInfo`` for an IANA or Windows name."""
    try:
        return ZoneInfo(to_iana(name))
    except ZoneInfoNotFoundError as exc:  # pragma: no cover - tzdata is a dependency
        raise UnknownTimeZone(str(exc)) from exc


def require_aware(value: datetime, what: str) -> datetime:
    """Refuse naive datetimes: a naive time is how bookings shift by hours between systems."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value
