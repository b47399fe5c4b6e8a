"""The port every backend implements, and the errors it may raise.

The port is deliberately narrow (read a window, point look-ups, create, update, cancel, respond, relink) so that
Graph (delta links), EWS (SyncFolderItems, synchronous exchangelib run in a thread), Google (sync tokens) and CalDAV
(sync-collection) all fit. Incremental change detection is the connector's business: ``read(full=False)`` may use a
delta token held in memory, but must still return the whole window, so a restarted process (empty memory) simply
does a full read. Sync decisions are never taken here: they belong to :mod:`roomsync.engine`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, TypeVar, runtime_checkable

from roomsync.model import NO_LIMITS, Booking, FieldLimits, Link, Response, RoomPair, Side, Snapshot, Window

__all__ = [
    "AuthenticationFailed",
    "BackendError",
    "BackendUnavailable",
    "BookingRefused",
    "BookingStore",
    "Capabilities",
    "Client",
    "CreateIdempotency",
    "InvalidResponse",
    "NotFound",
    "PreconditionFailed",
    "RequestCounts",
    "Response",
    "RoomInfo",
    "SecretLookup",
    "SecretNotFound",
    "StoreOptions",
    "Throttling",
    "read_each_room",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


#: (secret name, key) -> value; raises :class:`SecretNotFound` naming what is missing.
SecretLookup = Callable[[str, str], str]


class SecretNotFound(LookupError):
    """A Secret, or a key in it, that a Connection refers to does not exist."""


class BackendError(Exception):
    """A failure talking to a backend. ``reason`` is the CamelCase condition reason shown in status."""

    reason = "BackendError"

    def __init__(self, message: str, *, backend: str = "", retryable: bool = False) -> None:
        super().__init__(message)
        self.backend = backend
        self.retryable = retryable


class AuthenticationFailed(BackendError):
    """Credentials missing, wrong, expired or revoked. Never retried in a loop; never a reason to delete."""

    reason = "AuthenticationFailed"


class BackendUnavailable(BackendError):
    """5xx, time-outs, resets, throttling that outlived its retries."""

    reason = "BackendUnavailable"

    def __init__(self, message: str, *, backend: str = "", retryable: bool = True) -> None:
        super().__init__(message, backend=backend, retryable=retryable)


class InvalidResponse(BackendError):
    """The backend answered something we cannot read (malformed JSON, wrong types, absurd values)."""

    reason = "InvalidResponse"


class BookingRefused(BackendError):
    """The backend's business rules refused a booking (room taken, too long, outside opening hours, ...).

    When Planon is in the lead this becomes a decline of the meeting request, with ``message`` as the comment.
    """

    reason = "BookingRefused"

    def __init__(self, message: str, *, code: str = "", backend: str = "") -> None:
        super().__init__(message, backend=backend)
        self.code = code


class NotFound(BackendError):
    """The item is gone (deleted by someone else between read and write)."""

    reason = "NotFound"


class PreconditionFailed(BackendError):
    """The item changed after RoomSync read it (a stale etag, ChangeKey or change time): nothing was written.

    Never retried as it is: the pair is read again and planned again, so a person's newer edit is seen and decided
    by the decision table instead of being overwritten.
    """

    reason = "PreconditionFailed"


class Throttling(StrEnum):
    """Whose request budget a backend's limits count against, so concurrency is limited per that scope."""

    PER_ROOM = "PerRoom"  # Graph, EWS with impersonation: each mailbox has its own budget
    PER_ACCOUNT = "PerAccount"  # EWS delegate access, Google (the delegated user): one budget for every room
    PER_TENANT = "PerTenant"  # Planon: one API for the whole estate


class CreateIdempotency(StrEnum):
    """How a retried create is recognised, so a lost answer never makes a second copy (docs/architecture.md)."""

    TRANSACTION_ID = "TransactionId"  # Graph transactionId
    CLIENT_ID = "ClientId"  # Google client-supplied event id, CalDAV resource name + If-None-Match
    LOOKUP_BY_LINK = "LookupByLink"  # Planon, EWS: look the link up before writing


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, declared once, so the engine, the runner and validation never ask for a backend by
    name. A capability a backend lacks is a policy ``roomsync validate`` refuses, with the field named."""

    #: The backend answers meeting requests as the room (accept/decline), so Planon can be in the lead.
    answers_requests: bool = False
    #: The backend has a room agent that decides requests by itself (Exchange's booking assistant, Google's
    #: resource auto-accept); a plain CalDAV server has none: nothing answers until RoomSync does.
    room_agent: bool = False
    #: Reads can be incremental (delta link, SyncFolderItems state, sync token, change timestamp).
    incremental_reads: bool = False
    #: A recurring meeting is one item with a pattern and exceptions (Planon holds occurrences one by one).
    native_series: bool = True
    create_idempotency: CreateIdempotency = CreateIdempotency.LOOKUP_BY_LINK
    throttling: Throttling = Throttling.PER_ROOM
    #: ``Client.rooms()`` lists the rooms the credentials can see.
    room_discovery: bool = False
    #: Writes carry the version they were planned on and are refused when it is stale. ``False``: best effort
    #: (documented per backend, e.g. Planon checks its change time in the update's own filter).
    strict_preconditions: bool = True
    #: Field lengths the backend can store; longer values are shortened there (see :mod:`roomsync.model.limits`).
    limits: FieldLimits = NO_LIMITS
    #: The client has ``push`` (:class:`~roomsync.connectors.push.PushChannels`): the backend can notify changes
    #: of a room calendar (Graph subscriptions, Google watch channels); without it RoomSync only polls.
    change_notifications: bool = False
    #: Notifications come down a connection the client holds (EWS streaming), not to the public endpoint: they
    #: need no public URL and no key.
    notifies_over_held_connection: bool = False


@dataclass(frozen=True)
class RoomInfo:
    """A room as a backend's directory lists it, for ``roomsync rooms`` and for suggesting RoomSync pairs.

    ``key`` is what a RoomSync's ``rooms:`` entry names on that side: the Planon reservation-unit code, or the
    room's calendar address.
    """

    key: str
    name: str = ""
    email: str | None = None
    capacity: int | None = None
    building: str = ""
    floor: str = ""
    time_zone: str | None = None


@dataclass
class RequestCounts:
    """Requests a client made, by room (``""`` when not about one room), operation and status; and the seconds it
    waited on throttling. The one interface metrics and benchmarks read."""

    by_room: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    throttled_seconds: float = 0.0

    def add(self, room: str, operation: str, status: str | int, count: int = 1) -> None:
        self.by_room[(room, operation, str(status))] += count

    def by_operation(self) -> Counter[tuple[str, str]]:
        """``{(operation, status): count}`` over every room."""
        totals: Counter[tuple[str, str]] = Counter()
        for (_, operation, status), count in self.by_room.items():
            totals[(operation, status)] += count
        return totals

    def total(self, room: str | None = None) -> int:
        return sum(c for (r, _, _), c in self.by_room.items() if room is None or r == room)


@runtime_checkable
class BookingStore(Protocol):
    """One side of a RoomSync: the rooms of that RoomSync in one backend.

    Every booking read carries a :class:`~roomsync.model.Handle` with the backend's version of its items; every
    write (``update``, ``cancel``, ``respond``, ``relink``) sends that version as its precondition and raises
    :class:`PreconditionFailed` when the item changed since, writing nothing.
    """

    side: Side
    backend: str
    capabilities: Capabilities

    async def read(self, window: Window, *, full: bool, rooms: Collection[str] | None = None) -> Snapshot:
        """Every booking of the RoomSync's rooms that overlaps the window.

        A room whose read fails is listed in ``Snapshot.unreadable_rooms`` (or the whole read raises); items that
        cannot be translated go to ``Snapshot.skipped``. ``full=False`` allows incremental change detection.
        ``rooms`` (room keys) narrows what is fetched to the rooms that may have changed (a notification, a manual
        request): the others are served from what the store read last; a room it holds nothing of is fetched
        anyway. The snapshot always covers every room.
        """
        ...

    async def lookup(self, ids: Collection[str]) -> dict[str, Booking]:
        """Point reads by booking id, also outside the window; ids that do not exist are left out."""
        ...

    async def create(self, booking: Booking) -> Booking:
        """Create ``booking`` (its ``link`` names the peer and is stored with it) and return it as stored.

        Must be idempotent per ``(booking.link.peer_id, booking.link.seq)`` (e.g. a Graph ``transactionId`` derived
        from both): a retry after a lost answer never makes a second copy, while a deliberate re-create after a
        deletion (a higher ``seq``) is not mistaken for a retry.
        """
        ...

    async def update(self, current: Booking, desired: Booking, fields: Sequence[str]) -> Booking:
        """Make ``current`` look like ``desired`` (``fields`` name what changed) and store ``desired.link``."""
        ...

    async def cancel(self, current: Booking, reason: str) -> None:
        """Cancel (or delete, where the backend keeps no history) the booking in all its rooms."""
        ...

    async def respond(self, current: Booking, response: Response, comment: str) -> None:
        """Answer a meeting request on behalf of the room(s). Calendar side only."""
        ...

    async def relink(self, current: Booking, link: Link) -> None:
        """Store only new link data on the item (after adopting a pre-existing pair)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class Client(Protocol):
    """What RoomSyncs sharing one Connection share: sessions, token cache, per-room limits, request counts."""

    backend: str
    capabilities: Capabilities
    requests: RequestCounts

    def store(self, rooms: Sequence[RoomPair], options: StoreOptions) -> BookingStore: ...

    async def rooms(self) -> list[RoomInfo]:
        """The rooms these credentials can see (``capabilities.room_discovery``); raises ``BackendError``."""
        ...

    async def aclose(self) -> None: ...


class Invitations(StrEnum):
    """Who hears about a booking written by the sync (``spec.invitations``): the calendar backends' one vocabulary."""

    NONE = "None"
    ORGANIZER_ONLY = "OrganizerOnly"
    ALL = "All"


@dataclass(frozen=True)
class StoreOptions:
    """What a store needs from the RoomSync beyond its rooms."""

    roomsync: str  # namespace/name, used in deterministic transaction ids and log lines
    leader: Side = Side.PLANON
    #: spec.invitations: who hears of RoomSync's calendar writes (an :class:`Invitations` value)
    invitations: str = Invitations.ORGANIZER_ONLY


async def read_each_room(
    rooms: Sequence[RoomPair],
    read: Callable[[RoomPair], Awaitable[T]],
    *,
    of: int,
    fatal: tuple[type[Exception], ...] = (AuthenticationFailed,),
    one_room: tuple[type[Exception], ...] = (),
) -> tuple[list[tuple[RoomPair, T]], set[str]]:
    """Read ``rooms`` side by side: the rooms read with what ``read`` returned for each, and the keys of the rooms
    that could not be read.

    A room whose read raised a :class:`BackendError` is unreadable (logged; the engine then deletes nothing in it)
    and the others are still read, so one broken mailbox does not stop a RoomSync. A ``fatal`` error (credentials
    refused: no room can be read) is raised at once, one failure for the cycle rather than one per room, unless it is
    also one of ``one_room`` (access to that room's calendar denied). Anything else is a bug and raised. When all
    ``of`` rooms of the store are unreadable, the first error is raised: a read that found nothing is no snapshot.
    """
    results = await asyncio.gather(*(read(room) for room in rooms), return_exceptions=True)
    found: list[tuple[RoomPair, T]] = []
    unreadable: set[str] = set()
    errors: list[BackendError] = []
    for room, result in zip(rooms, results, strict=True):
        if not isinstance(result, BaseException):
            found.append((room, result))
            continue
        if not isinstance(result, BackendError) or (isinstance(result, fatal) and not isinstance(result, one_room)):
            raise result
        log.warning("room %s (%s) unreadable: %s", room.key, room.calendar, result)
        unreadable.add(room.key)
        errors.append(result)
    if of and len(unreadable) == of:
        raise errors[0]
    return found, unreadable
