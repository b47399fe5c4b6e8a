"""A BookingStore held in a dict, with the semantics a real backend has.

It keeps cancelled bookings (as Planon does), makes creates idempotent per peer id (as Graph's ``transactionId``
does), can refuse overlapping bookings in one room (as Planon's availability check does) and can be told to fail
after a number of writes, which is how the "killed mid-cycle" properties are tested without processes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace

from roomsync.connectors.base import BackendUnavailable, BookingRefused, Capabilities, NotFound, Response
from roomsync.model import Booking, Link, Side, Snapshot, Status, Window


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
    ) -> None:
        self.side = side
        self.backend = "memory"
        self.capabilities = Capabilities(answers_requests=side is Side.CALENDAR, room_agent=side is Side.CALENDAR)
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

    # -- what a person does on this side -------------------------------------------------------------------------
    def put(self, booking: Booking) -> Booking:
        self.bookings[booking.id] = booking
        return booking

    def new_id(self) -> str:
        return f"{self._prefix}{next(self._ids)}"

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
        stored = self._existing(current.id)
        self._refuse_if_taken(desired, ignore=stored.id)
        updated = replace(
            stored.with_content_of(desired), link=desired.link, awaiting_response=stored.awaiting_response
        )
        self._write("update", updated)
        return updated

    async def cancel(self, current: Booking, reason: str) -> None:
        stored = self._existing(current.id)
        self._write("cancel", replace(stored, status=Status.CANCELLED, awaiting_response=False))

    async def respond(self, current: Booking, response: Response, comment: str) -> None:
        stored = self._existing(current.id)
        self.responses.setdefault(stored.id, []).append((response, comment))
        status = {Response.ACCEPT: Status.CONFIRMED, Response.TENTATIVE: Status.TENTATIVE}.get(
            response, Status.CANCELLED
        )
        self._write("respond", replace(stored, status=status, awaiting_response=False))

    async def relink(self, current: Booking, link: Link) -> None:
        self._write("relink", replace(self._existing(current.id), link=link))

    async def aclose(self) -> None:
        return None

    # -- internals ---------------------------------------------------------------------------------------------------
    def _existing(self, booking_id: str) -> Booking:
        stored = self.bookings.get(booking_id)
        if stored is None:
            raise NotFound(f"{booking_id} does not exist", backend=self.backend)
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
        self.bookings[booking.id] = booking
        self.log.entries.append((kind, booking.id))
