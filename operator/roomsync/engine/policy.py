"""The sync policy: the part of a RoomSync spec the engine decides with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from roomsync.model import NO_LIMITS, FieldLimits, Side, Window


class Direction(StrEnum):
    BIDIRECTIONAL = "Bidirectional"
    PLANON_TO_CALENDAR = "PlanonToCalendar"
    CALENDAR_TO_PLANON = "CalendarToPlanon"

    def allows(self, source: Side) -> bool:
        """Whether changes made on ``source`` flow to the other side."""
        if self is Direction.BIDIRECTIONAL:
            return True
        return source is (Side.PLANON if self is Direction.PLANON_TO_CALENDAR else Side.CALENDAR)

    @property
    def source(self) -> Side | None:
        """The authoritative side of a one-way sync; ``None`` when both are."""
        if self is Direction.BIDIRECTIONAL:
            return None
        return Side.PLANON if self is Direction.PLANON_TO_CALENDAR else Side.CALENDAR


class OnRefused(StrEnum):
    """What to do when Planon follows and refuses a meeting the calendar already accepted."""

    REPORT = "Report"
    DECLINE = "Decline"


#: A room may always lose this many linked bookings in one cycle; the percentage guard applies beyond it, so one
#: cancelled meeting in a room with two bookings is not a "mass" delete.
MASS_DELETE_FLOOR = 2


@dataclass(frozen=True)
class Policy:
    leader: Side = Side.PLANON
    direction: Direction = Direction.BIDIRECTIONAL
    window_past: timedelta = timedelta(days=1)
    window_future: timedelta = timedelta(days=180)
    max_delete_percent: int = 25
    allow_mass_delete: bool = False
    on_refused: OnRefused = OnRefused.REPORT
    #: What the narrower side can store (from the backends' capabilities): both sides are compared as that side
    #: holds them, so a value shortened to fit is not a change (see :mod:`roomsync.model.limits`).
    limits: FieldLimits = NO_LIMITS

    def window(self, now: datetime) -> Window:
        return Window.around(now, self.window_past, self.window_future)
