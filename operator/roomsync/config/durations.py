"""Durations as RoomSync specs write them: Go durations (``90s``, ``1h30m``) or a whole number of days (``7d``).

Kubernetes CEL's ``duration()`` is Go's ``time.ParseDuration``, which has no ``d`` unit; the CRD's rules convert
``Nd`` to ``N*24h`` before calling it. Values are computed by ``durationpy`` (installed with the kubernetes client);
it is more lenient than Go (it takes ``d``, ``w`` and ``y``), so :func:`parse_go_duration` first checks Go's grammar
and range, making the offline CEL evaluation reject what the apiserver rejects. :func:`parse_duration` is what the
operator uses to read a spec.
"""

from __future__ import annotations

import re
from datetime import timedelta

import durationpy

#: Go's grammar: an optional sign, then "0" or one or more decimal numbers each followed by a unit.
_GO_DURATION = re.compile(r"[-+]?(?:0|(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+)")
_DAYS = re.compile(r"^([0-9]{1,5})d$")
#: Go keeps a duration in an int64 of nanoseconds (about 292 years).
_MAX = timedelta(microseconds=(2**63 - 1) // 1_000)


def parse_go_duration(text: str) -> timedelta:
    """Parse like Go's ``time.ParseDuration``; raise ``ValueError`` naming the text."""
    if not _GO_DURATION.fullmatch(text):
        raise ValueError(f"invalid duration {text!r}")
    value: timedelta = durationpy.from_str(text)
    if abs(value) > _MAX:
        raise ValueError(f"invalid duration {text!r}: out of range")
    return value


def parse_duration(text: str) -> timedelta:
    """A spec duration: ``Nd`` (whole days) or a Go duration."""
    match = _DAYS.match(text)
    if match:
        return timedelta(days=int(match.group(1)))
    return parse_go_duration(text)
