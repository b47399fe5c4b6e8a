"""When the next cycle of a RoomSync starts: ``spec.interval`` after the previous cycle *started*.

A fixed cadence, not a pause after each cycle: with a pause, a cycle over 1,000 rooms that takes a second stretches a
2 s interval to 3 s, and a change waits for the interval plus two cycles before the other side shows it. With the
cadence, every room is read once per interval (the request budget the interval is chosen for) and a change shows
within one interval plus one cycle. A cycle that outlasts the interval is followed at once by the next, never
overlapped. The operator's workers and ``roomsync sync`` both schedule with this.
"""

from __future__ import annotations

import asyncio


class Cadence:
    """Started at the beginning of a cycle; says how long to wait before the next one."""

    def __init__(self) -> None:
        self.started = asyncio.get_running_loop().time()

    def remaining(self, interval_seconds: float) -> float:
        """Seconds until ``interval_seconds`` after the start (0 when the cycle took longer)."""
        elapsed = asyncio.get_running_loop().time() - self.started
        return max(0.0, interval_seconds - elapsed)
