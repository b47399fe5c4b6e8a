"""The canonical booking every backend is translated into and out of.

A ``Booking`` is one meeting as one side sees it: possibly several rooms, possibly a recurring series with its
exceptions. It is immutable and normalised on construction (UTC instants, case-folded e-mails, trimmed subject,
IANA zone) so that comparing two bookings compares what people see, never how a backend spells it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Final, Generic, TypeVar

from roomsync.model.recurrence import Recurrence
from roomsync.model.zones import require_aware, to_iana

UTC: Final = UTC
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SPACE = re.compile(r"\s+")
_EMPTY: Final[frozenset[Any]] = frozenset()
_T = TypeVar("_T")
_K = TypeVar("_K")


class _Interner(Generic[_K, _T]):
    """One shared object per distinct value, in a bounded table.

    A cycle holds every booking of both sides, by the hundred thousand (docs/performance.md), and each side parses
    its own copy of the same people, instants and room sets: a few thousand distinct values in all. Sharing them
    keeps the snapshots small and makes equal values compare by identity first. The table is emptied when it
    reaches its bound, so a long-running process never grows it without limit.
    """

    def __init__(self, limit: int) -> None:
        self._table: dict[_K, _T] = {}
        self._limit = limit

    def get(self, key: _K, value: _T) -> _T:
        found = self._table.get(key)
        if found is None:
            if len(self._table) >= self._limit:
                self._table.clear()
            self._table[key] = found = value
        return found


_ROOM_SETS: Final[_Interner[frozenset[str], frozenset[str]]] = _Interner(100_000)
_PEOPLE: Final[_Interner[tuple[str, str], Person]] = _Interner(200_000)
_PEOPLE_SETS: Final[_Interner[frozenset[tuple[str, str]], frozenset[Person]]] = _Interner(200_000)
_INSTANTS: Final[_Interner[datetime, datetime]] = _Interner(200_000)


class Side(StrEnum):
    """The two systems a RoomSync joins."""

    PLANON = "Planon"
    CALENDAR = "Calendar"

    @property
    def other(self) -> Side:
        return Side.CALENDAR if self is Side.PLANON else Side.PLANON


class Response(StrEnum):
    """A room's answer to a meeting request (the values are the Graph action names)."""

    ACCEPT = "accept"
    DECLINE = "decline"
    TENTATIVE = "tentativelyAccept"


class Status(StrEnum):
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


def normalise_email(value: str) -> str:
    """Case-fold and trim an address; raise ``ValueError`` naming it when it is not an address."""
    email = value.strip().casefold()
    if not _EMAIL.match(email):
        raise ValueError(f"{value!r} is not an e-mail address")
    return email


def normalise_subject(value: str) -> str:
    """Trim and fold runs of white space: backends disagree on trailing blanks and line breaks."""
    return _SPACE.sub(" ", value).strip()


@dataclass(frozen=True, slots=True)
class Person:
    """Someone on a booking. Identity is the case-folded e-mail; the display name is carried, not compared."""

    email: str
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", normalise_email(self.email))
        object.__setattr__(self, "name", self.name.strip())


@dataclass(frozen=True)
class RoomPair:
    """A room as both sides name it; the Planon reservation-unit code is the canonical room key."""

    planon: str
    calendar: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "planon", self.planon.strip())
        object.__setattr__(self, "calendar", normalise_email(self.calendar))

    @property
    def key(self) -> str:
        return self.planon


@dataclass(frozen=True)
class Window:
    """The span of time a RoomSync keeps in sync, ``[start, end)``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", require_aware(self.start, "window start").astimezone(UTC))
        object.__setattr__(self, "end", require_aware(self.end, "window end").astimezone(UTC))
        if self.end <= self.start:
            raise ValueError("window end must be after its start")

    @classmethod
    def around(cls, now: datetime, past: timedelta, future: timedelta) -> Window:
        return cls(now - past, now + future)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return end > self.start and start < self.end


@dataclass(frozen=True, slots=True)
class Link:
    """What one side remembers of the other: the peer's id, the fingerprint last synced and a sequence number.

    The sequence number orders links written at different times: a change is propagated with one write to the
    target only, so the source keeps an older link; the newer one (higher ``seq``) is the baseline. ``fields`` holds
    a short digest per group of synced fields (:func:`roomsync.model.fingerprint.field_digests`), so that when both
    sides changed, edits to different fields can both be kept (links written before it existed have none).
    """

    peer_id: str
    fingerprint: str
    seq: int = 1
    fields: str = ""

    PREFIX: ClassVar[str] = "rs2"  # ClassVar, not Final: with slots=True a Final becomes a field
    OLD_PREFIX: ClassVar[str] = "rs1"  # without field digests

    def encode(self) -> str:
        """A compact text for an extended property or a Planon free field; the peer id comes last."""
        if not self.fields:
            return f"{self.OLD_PREFIX};{self.seq};{self.fingerprint};{self.peer_id}"
        return f"{self.PREFIX};{self.seq};{self.fingerprint};{self.fields};{self.peer_id}"

    @classmethod
    def decode(cls, text: str | None) -> Link | None:
        """Parse :meth:`encode` output; ``None`` for empty or foreign values (never raises on user data)."""
        if not text:
            return None
        head = text.strip().split(";", 1)[0]
        size = {cls.PREFIX: 5, cls.OLD_PREFIX: 4}.get(head)
        parts = text.strip().split(";", (size or 1) - 1)
        if size is None or len(parts) != size or not parts[1].isdigit() or not parts[-1]:
            return None
        fields = parts[3] if size == 5 else ""
        return cls(peer_id=parts[-1], fingerprint=parts[2], seq=int(parts[1]), fields=fields)


class Handle:
    """Where one backend holds a booking, and at which version it was read. Opaque to the engine.

    The connector that read a booking attaches it and reads it back when it writes that booking: ``items`` maps a
    room key to the backend's item ids in that room (a Planon series holds one reservation per occurrence), and
    ``versions`` maps an item id to its version as read (Graph/Google etag, EWS ChangeKey, CalDAV ETag, Planon
    change time). Writes send the version as their precondition, so a person's edit made between RoomSync's read
    and its write is never overwritten (``PreconditionFailed``).

    Held as one flat tuple of ``(room, item id, version)``: every booking of both sides carries one, by the hundred
    thousand (docs/performance.md), so no dict per booking.
    """

    __slots__ = ("entries",)

    def __init__(self, items: Mapping[str, Iterable[str]], versions: Mapping[str, str] | None = None) -> None:
        known = versions or {}
        self.entries: tuple[tuple[str, str, str | None], ...] = tuple(
            (room, item, known.get(item)) for room in sorted(items) for item in items[room]
        )

    @property
    def items(self) -> Mapping[str, tuple[str, ...]]:
        grouped: dict[str, tuple[str, ...]] = {}
        for room, item, _ in self.entries:
            grouped[room] = (*grouped.get(room, ()), item)
        return grouped

    @property
    def versions(self) -> Mapping[str, str]:
        return {item: version for _, item, version in self.entries if version is not None}

    def ids(self, room: str | None = None) -> tuple[str, ...]:
        """The item ids in one room, or in every room (room order, then the backend's order)."""
        return tuple(item for key, item, _ in self.entries if room is None or key == room)

    def version(self, item_id: str) -> str | None:
        return next((version for _, item, version in self.entries if item == item_id), None)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Handle) and other.entries == self.entries

    def __hash__(self) -> int:
        return hash(self.entries)

    def __repr__(self) -> str:
        return f"Handle({self.entries!r})"


@dataclass(frozen=True, slots=True)
class Booking:
    """One meeting as one side holds it.

    ``id`` is the side's own identity for the whole meeting (Graph: the iCalUId shared by every room's copy;
    Planon: the reservation group). ``handle`` is where and at which version the backend holds it, for the
    connector's own use (the engine never looks inside). ``awaiting_response`` marks a meeting request the room
    has not answered yet (Planon in the lead decides it).
    """

    id: str
    subject: str
    start: datetime
    end: datetime
    timezone: str = "UTC"
    all_day: bool = False
    organizer: Person | None = None
    required: frozenset[Person] = frozenset()
    optional: frozenset[Person] = frozenset()
    rooms: frozenset[str] = frozenset()
    recurrence: Recurrence | None = None
    status: Status = Status.CONFIRMED
    ical_uid: str | None = None
    link: Link | None = None
    awaiting_response: bool = False
    handle: Handle | None = field(default=None, compare=False)
    last_modified: datetime | None = field(default=None, compare=False)
    #: The engine's fingerprint of this (immutable) booking and what it was computed for; see
    #: ``fingerprint.fitted_fingerprint``. A connector that hands back the same object for an item that did not
    #: change saves the engine that work every cycle. Never copied by ``replace``.
    _fingerprint: tuple[object, str] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("booking id must not be empty")
        start = require_aware(self.start, "start").astimezone(UTC)
        end = require_aware(self.end, "end").astimezone(UTC)
        if end <= start:
            raise ValueError(f"booking {self.id}: end {end.isoformat()} must be after start {start.isoformat()}")
        object.__setattr__(self, "start", _INSTANTS.get(start, start))
        object.__setattr__(self, "end", _INSTANTS.get(end, end))
        object.__setattr__(self, "timezone", to_iana(self.timezone))
        object.__setattr__(self, "subject", normalise_subject(self.subject))
        organizer_email = self.organizer.email if self.organizer else None
        required = frozenset(p for p in self.required if p.email != organizer_email)
        optional = frozenset(p for p in self.optional if p.email != organizer_email and p not in required)
        rooms = frozenset(r.strip() for r in self.rooms)
        object.__setattr__(self, "rooms", _ROOM_SETS.get(rooms, rooms) if rooms else _EMPTY)
        if self.organizer is not None:
            object.__setattr__(self, "organizer", _shared_person(self.organizer))
        object.__setattr__(self, "required", _shared_people(required))
        object.__setattr__(self, "optional", _shared_people(optional))

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def cancelled(self) -> bool:
        return self.status is Status.CANCELLED

    def overlaps(self, window: Window) -> bool:
        """Whether any occurrence of the booking falls in the window."""
        if self.recurrence is None:
            return window.overlaps(self.start, self.end)
        return bool(self.recurrence.occurrences(self.start, self.duration, self.timezone, window.start, window.end))

    def with_link(self, link: Link | None) -> Booking:
        return replace(self, link=link)

    def with_groups_of(self, other: Booking, groups: Iterable[str]) -> Booking:
        """This booking with ``other``'s values for the named field groups (see ``fingerprint.FIELD_GROUPS``)."""
        changes: dict[str, Any] = {}
        for group in groups:
            if group == "schedule":
                changes |= {
                    "start": other.start,
                    "end": other.end,
                    "timezone": other.timezone,
                    "all_day": other.all_day,
                    "recurrence": other.recurrence,
                }
            else:
                changes[group] = getattr(other, group)
        return replace(self, **changes)

    def with_content_of(self, other: Booking) -> Booking:
        """This booking's identity and backend data with ``other``'s synced content (what an update writes)."""
        return replace(
            self,
            subject=other.subject,
            start=other.start,
            end=other.end,
            timezone=other.timezone,
            all_day=other.all_day,
            organizer=other.organizer,
            required=other.required,
            optional=other.optional,
            rooms=other.rooms,
            recurrence=other.recurrence,
            status=Status.CONFIRMED if other.status is Status.CANCELLED else other.status,
        )


def _shared_person(person: Person) -> Person:
    return _PEOPLE.get((person.email, person.name), person)


def _shared_people(persons: frozenset[Person]) -> frozenset[Person]:
    """The same set object for the same people (names included: the display name is carried, so it must not be
    swapped for another spelling of the same address)."""
    if not persons:
        return _EMPTY
    key = frozenset((p.email, p.name) for p in persons)
    return _PEOPLE_SETS.get(key, frozenset(_shared_person(p) for p in persons))


def people(emails: Iterable[str | Person]) -> frozenset[Person]:
    """Convenience for building attendee sets from addresses."""
    return frozenset(p if isinstance(p, Person) else Person(p) for p in emails)
