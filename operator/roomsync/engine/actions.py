"""Typed actions a plan consists of. Each carries a one-line reason a person understands."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from roomsync.model import Booking, Link, Response, Side


class ActionKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    CANCEL = "cancel"
    RESPOND = "respond"
    RELINK = "relink"


@dataclass(frozen=True)
class Action:
    """One write on one side.

    * ``CREATE``: write ``desired`` (carrying its link) on ``side``; when ``backlink`` is set, the new item's id is
      then recorded on ``source`` so a later deletion on ``side`` is recognised as one.
    * ``UPDATE``: make ``target`` look like ``desired``; ``fields`` name what differs.
    * ``CANCEL``: cancel ``target``.
    * ``RESPOND``: answer the meeting request ``target`` with ``response``/``comment``.
    * ``RELINK``: store ``link`` on ``target`` only.

    ``answer`` is a calendar meeting request decided by this (Planon) write: accepted when it succeeds, declined
    with Planon's message when Planon refuses it and ``decline_on_refusal`` is set.
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
    answer: Booking | None = None
    decline_on_refusal: bool = False
    conflict: bool = field(default=False, compare=False)

    @property
    def subject(self) -> str:
        booking = self.desired or self.target
        return booking.subject if booking else ""

    def describe(self) -> str:
        """``create on Calendar: "Budget review" (MR-3.14) — new in Planon``."""
        rooms = ", ".join(sorted(self.rooms))
        return f'{self.kind.value} on {self.side.value}: "{self.subject}" ({rooms}) - {self.reason}'
