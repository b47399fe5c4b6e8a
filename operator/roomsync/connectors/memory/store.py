"""A BookingStore held in a dict, with the semantics a real backend has.

It keeps cancelled bookings (as Planon does), makes creates idempotent per peer id (as Graph's ``transactionId``
does), can refuse overlapping bookings in one room (as Planon's availability check does), versions every booking
and refuses a write planned on an older version (as an etag with ``If-Match`` does), shortens what does not fit its
``limits`` (as Planon's fields do), can book a meeting anew when its rooms change (as a calendar whose organising
room leaves must), and can be told to fail after a number of writes, which is how the "killed mid-cycle"
properties are tested without processes. ``before_write`` lets a test play a person who edits between RoomSync's
read and its write.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace

from roomsync.connectors.base import (
    BackendUnavailable,
    BookingRefused,
    Capabilities,
    NotFound,
    PreconditionFailed,
    Response,
)
from roomsync.model import NO_LIMITS, Booking, FieldLimits, Handle, Link, Side, Snapshot, Status, Window, fit


class InjectedCrash(BaseException):
    """Raised after the configured number of writes, standing in for a killed process (so nothing catches it)."""


@dataclass
class WriteLog:
    """Every write the store accepted, in order, for assertions and benchmarks."""

    entries: list[tuple[str, str]] = field(default_factory=list)

    def count(self, kind: str | None = None) -> int:
        return sum(1 for k, _ in self.entries if kind is None or k == kind)


class MemoryStore:
    """One side held in memory. ``bookings`` is public so tests can play "a person edits it"."""

    def __init__(
        self,
        side: Side,
        bookings: Collection[Booking] = (),
        *,
        refuse_overlaps: bool = False,
        id_prefix: str | None = None,
        limits: FieldLimits = NO_LIMITS,
        rebook_on_room_change: bool = False,
    ) -> None:
        self.side = side
        self.backend = "memory"
        self.capabilities = Capabilities(
            answers_requests=side is Side.CALENDAR, room_agent=side is Side.CALENDAR, limits=limits
        )
        self.rebook_on_room_change = rebook_on_room_change
        #: called once, just before the next write (then cleared): a person's edit between read and write
        self.before_write: Callable[[], None] | None = None
        self.bookings: dict[str, Booking] = {b.id: b for b in bookings}
        self.refuse_overlaps = refuse_overlaps
        self.responses: dict[str, list[tuple[Response, str]]] = {}
        self.log = WriteLog()
        self.fail_read = False
        self.unreadable_rooms: frozenset[str] = frozenset()
        self.crash_after_writes: int | None = None
        self._ids = itertools.count(1)
        self._prefix = id_prefix or side.value[0].lower()
        self._created_for_peer: dict[tuple[str, int], str] = {}
        self._versions = itertools.count(1)

    # -- what a person does on this side -------------------------------------------------------------------------
    def put(self, booking: Booking) -> Booking:
        """Store ``booking`` as a person's change would: a new version."""
        stored = replace(booking, handle=self._next_version(booking.id))
        self.bookings[booking.id] = stored
        return stored

    def new_id(self) -> str:
        """An id no booking has, as a backend would hand out (tests name their own bookings ``c1``, ``p1`` ...)."""
        while True:
            candidate = f"{self._prefix}{next(self._ids)}"
            if candidate not in self.bookings:
                return candidate

    def edit(self, booking_id: str, change: Callable[[Booking], Booking]) -> Booking:
        return self.put(change(self.bookings[booking_id]))

    def live(self) -> list[Booking]:
        return [b for b in self.bookings.values() if not b.cancelled]

    # -- the port --------------------------------------------------------------------------------------------------
    async def read(self, window: Window, *, full: bool, rooms: Collection[str] | None = None) -> Snapshot:
        if self.fail_read:
            raise BackendUnavailable("injected read failure", backend=self.backend)
        visible = tuple(
            b for b in self.bookings.values() if b.overlaps(window) and not (b.rooms & self.unreadable_rooms)
        )
        return Snapshot(visible, unreadable_rooms=self.unreadable_rooms, full=full)

    async def lookup(self, ids: Collection[str]) -> dict[str, Booking]:
        return {i: self.bookings[i] for i in ids if i in self.bookings}

    async def create(self, booking: Booking) -> Booking:
        self._person_edits()
        peer = (booking.link.peer_id, booking.link.seq) if booking.link else None
        earlier = self._created_for_peer.get(peer) if peer else None
        if earlier in self.bookings:  # idempotent create, like Graph's transactionId
            return self.bookings[earlier]
        self._refuse_if_taken(booking, ignore=None)
        created = replace(booking, id=self.new_id())
        self._write("create", created)
        if peer:
            self._created_for_peer[peer] = created.id
        return created

    async def update(self, current: Booking, desired: Booking, fields: Sequence[str]) -> Booking:
        self._person_edits()
        stored = self._current(current)
        if self.rebook_on_room_change and desired.rooms != stored.rooms:
            rebooked = await self.create(replace(desired, status=Status.CONFIRMED))
            self._write("cancel", replace(stored, status=Status.CANCELLED, awaiting_response=False))
            return rebooked
        self._refuse_if_taken(desired, ignore=stored.id)
        updated = replace(
            stored.with_content_of(desired), link=desired.link, awaiting_response=stored.awaiting_response
        )
        self._write("update", updated)
        return updated

    async def cancel(self, current: Booking, reason: str) -> None:
        self._person_edits()
        stored = self._current(current)
        self._write("cancel", replace(stored, status=Status.CANCELLED, awaiting_response=False))

    async def respond(self, current: Booking, response: Response, comment: str) -> None:
        self._person_edits()
        stored = self._current(current)
        self.responses.setdefault(stored.id, []).append((response, comment))
        status = {Response.ACCEPT: Status.CONFIRMED, Response.TENTATIVE: Status.TENTATIVE}.get(
            response, Status.CANCELLED
        )
        self._write("respond", replace(stored, status=status, awaiting_response=False))

    async def relink(self, current: Booking, link: Link) -> None:
        self._person_edits()
        self._write("relink", replace(self._current(current), link=link))

    async def aclose(self) -> None:
        return None

    # -- internals ---------------------------------------------------------------------------------------------------
    def _existing(self, booking_id: str) -> Booking:
        stored = self.bookings.get(booking_id)
        if stored is None:
            raise NotFound(f"{booking_id} does not exist", backend=self.backend)
        return stored

    def _next_version(self, booking_id: str) -> Handle:
        """The booking is one item (its own id) with a new version, as an etag changes with every write."""
        return Handle({"": (booking_id,)}, {booking_id: str(next(self._versions))})

    def _person_edits(self) -> None:
        edit, self.before_write = self.before_write, None
        if edit is not None:
            edit()

    def _current(self, planned_on: Booking) -> Booking:
        """The stored booking, if it is still the version ``planned_on`` was read at (an ``If-Match``)."""
        stored = self._existing(planned_on.id)
        read = planned_on.handle.version(planned_on.id) if planned_on.handle else None
        if read is not None and stored.handle is not None and stored.handle.version(stored.id) != read:
            raise PreconditionFailed(f"{planned_on.id} changed after it was read", backend=self.backend)
        return stored

    def _refuse_if_taken(self, booking: Booking, ignore: str | None) -> None:
        if not self.refuse_overlaps or booking.recurrence is not None:
            return
        for other in self.bookings.values():
            if other.id == ignore or other.cancelled or not (other.rooms & booking.rooms):
                continue
            if other.start < booking.end and booking.start < other.end:
                raise BookingRefused(
                    f"room {', '.join(sorted(other.rooms & booking.rooms))} is already reserved "
                    f"{other.start:%H:%M}-{other.end:%H:%M}",
                    code="PN_RESERVATION_NOT_AVAILABLE",
                    backend=self.backend,
                )

    def _write(self, kind: str, booking: Booking) -> None:
        if self.crash_after_writes is not None and self.log.count() >= self.crash_after_writes:
            raise InjectedCrash(f"crash before write {self.log.count() + 1}")
        self.bookings[booking.id] = replace(
            fit(booking, self.capabilities.limits), handle=self._next_version(booking.id)
        )
        self.log.entries.append((kind, booking.id))
