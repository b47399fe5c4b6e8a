"""Durations as RoomSync specs write them: Go durations (``90s``, ``1h30m``) or a whole number of days (``7d``).

Kubernetes CEL's ``duration()`` is Go's ``time.ParseDuration``, which has no ``d`` unit; the CRD's rules convert
``Nd`` to ``N*24h`` before calling it. :func:`parse_go_duration` reproduces Go's grammar exactly so the offline CEL
evaluation rejects what the apiserver rejects, and :func:`parse_duration` is what the operator uses to read a spec.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation

_NANOS_PER_UNIT = {
    "ns": Decimal(1),
    "us": Decimal(1_000),
    "µs": Decimal(1_000),  # U+00B5 micro sign
    "μs": Decimal(1_000),  # U+03BC greek mu
    "ms": Decimal(1_000_000),
    "s": Decimal(1_000_000_000),
    "m": Decimal(60_000_000_000),
    "h": Decimal(3_600_000_000_000),
}
_TERM = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_DAYS = re.compile(r"^([0-9]{1,5})d$")
_MAX_NANOS = 2**63 - 1


def parse_go_duration(text: str) -> timedelta:
    """Parse like Go's ``time.ParseDuration`` (signed sequence of decimal numbers with units); raise ValueError."""
    s = text
    sign = 1
    if s[:1] in ("-", "+"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return timedelta(0)
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    total = Decimal(0)
    pos = 0
    while pos < len(s):
        match = _TERM.match(s, pos)
        if match is None or match.group(1) in ("", "."):
            raise ValueError(f"invalid duration {text!r}")
        try:
            total += Decimal(match.group(1)) * _NANOS_PER_UNIT[match.group(2)]
        except InvalidOperation as exc:  # pragma: no cover - the regex only lets decimals through
            raise ValueError(f"invalid duration {text!r}") from exc
        pos = match.end()
    nanos = int(total)
    if nanos > _MAX_NANOS:
        raise ValueError(f"invalid duration {text!r}: out of range")
    seconds, rest = divmod(nanos, 1_000_000_000)
    return sign * timedelta(seconds=seconds, microseconds=rest // 1_000)


def parse_duration(text: str) -> timedelta:
    """A spec duration: ``Nd`` (whole days) or a Go duration."""
    match = _DAYS.match(text)
    if match:
        return timedelta(days=int(match.group(1)))
    return parse_go_duration(text)
