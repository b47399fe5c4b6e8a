"""Typed actions a plan consists of. Each carries a one-line reason a person understands."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from roomsync.model import Booking, Link, Response, Side


@dataclass(frozen=True)
class RequestDecision:
    """The calendar meeting request that a Planon write decides (Planon in the lead, or ``onRefused: Decline``).

    Planon saying yes (the write succeeds) accepts ``request`` if it still awaits an answer; Planon saying no
    (``BookingRefused``) declines it with Planon's message when ``decline_on_refusal`` is set.
    """

    request: Booking
    decline_on_refusal: bool


class ActionKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    CANCEL = "cancel"
    RESPOND = "respond"
    RELINK = "relink"


@dataclass(frozen=True, slots=True)
class Action:
    """One write on one side.

    * ``CREATE``: write ``desired`` (carrying its link) on ``side``; when ``backlink`` is set, the new item's id is
      then recorded on ``source`` so a later deletion on ``side`` is recognised as one.
    * ``UPDATE``: make ``target`` look like ``desired``; ``fields`` name what differs. A backend may have to book
      the meeting anew to do it (the room that organises a calendar meeting leaves it); when the written item's id
      differs from the target's and ``backlink_if_moved`` is set, ``source`` is told the new id.
    * ``CANCEL``: cancel ``target``.
    * ``RESPOND``: answer the meeting request ``target`` with ``response``/``comment``.
    * ``RELINK``: store ``link`` on ``target`` only.

    ``decides`` names the calendar meeting request this (Planon) write decides (see :class:`RequestDecision`).
    """

    kind: ActionKind
    side: Side
    reason: str
    rooms: frozenset[str]
    target: Booking | None = None
    desired: Booking | None = None
    source: Booking | None = None
    fields: tuple[str, ...] = ()
    response: Response | None = None
    comment: str = ""
    link: Link | None = None
    backlink: bool = False
    backlink_if_moved: bool = False
    decides: RequestDecision | None = None
    conflict: bool = field(default=False, compare=False)

    @property
    def subject(self) -> str:
        booking = self.desired or self.target
        return booking.subject if booking else ""

    def describe(self) -> str:
        """``create on Calendar: "Budget review" (MR-3.14) — new in Planon``."""
        rooms = ", ".join(sorted(self.rooms))
        return f'{self.kind.value} on {self.side.value}: "{self.subject}" ({rooms}) - {self.reason}'
