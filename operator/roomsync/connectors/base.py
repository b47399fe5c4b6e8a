"""The port every backend implements, and the errors it may raise.

The port is deliberately narrow (read a window, point look-ups, create, update, cancel, respond, relink) so that
Graph (delta links), EWS (SyncFolderItems, synchronous exchangelib run in a thread), Google (sync tokens) and CalDAV
(sync-collection) all fit. Incremental change detection is the connector's business: ``read(full=False)`` may use a
delta token held in memory, but must still return the whole window, so a restarted process (empty memory) simply
does a full read. Sync decisions are never taken here: they belong to :mod:`roomsync.engine`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol, runtime_checkable

from roomsync.model import Booking, Link, Response, Side, Snapshot, Window

__all__ = [
    "AuthenticationFailed",
    "BackendError",
    "BackendUnavailable",
    "BookingRefused",
    "BookingStore",
    "InvalidResponse",
    "NotFound",
    "Response",
]


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


@runtime_checkable
class BookingStore(Protocol):
    """One side of a RoomSync: the rooms of that RoomSync in one backend."""

    side: Side
    backend: str

    async def read(self, window: Window, *, full: bool) -> Snapshot:
        """Every booking of the RoomSync's rooms that overlaps the window.

        A room whose read fails is listed in ``Snapshot.unreadable_rooms`` (or the whole read raises); items that
        cannot be translated go to ``Snapshot.skipped``. ``full=False`` allows incremental change detection.
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
