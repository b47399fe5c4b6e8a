"""The Planon side of one RoomSync: its reservation units as a :class:`BookingStore`.

Requests per operation (steady state, master data cached): ``read`` = one ``/read`` per ``chunkSize`` units (an
incremental read adds one per chunk for the window's new tail); ``lookup`` = one or two reads; ``create`` = one
idempotency read + one BomAdd per room and occurrence; ``update`` = one read of the meeting + one ``/update`` per
distinct set of changed values + BomAdd/changeState for added/removed rooms or occurrences; ``cancel`` = one read +
one ``/changeState`` per ``chunkSize`` reservations; ``relink`` = one read + one ``/update``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeVar

from roomsync.connectors.base import (
    AuthenticationFailed,
    BackendError,
    BackendUnavailable,
    BookingRefused,
    InvalidResponse,
    NotFound,
    Response,
    StoreOptions,
)
from roomsync.connectors.planon.codec import Codec, Planned, Row, RowError, diff, group_key, handle_of
from roomsync.connectors.planon.directory import UnitInfo, chunks
from roomsync.connectors.planon.http import PlanonConfigurationError, Record
from roomsync.connectors.planon.settings import CANCEL_BY_DELETE
from roomsync.connectors.planon.texts import format_attendees
from roomsync.model import Booking, Link, RoomPair, Side, SkippedItem, Snapshot, Window

if TYPE_CHECKING:
    from roomsync.connectors.planon.client import PlanonClient

log = logging.getLogger("roomsync.connectors.planon")
BACKEND: Final = "planon"
T = TypeVar("T")


class PlanonStore:
    side = Side.PLANON
    backend = BACKEND

    def __init__(self, client: PlanonClient, rooms: Sequence[RoomPair], options: StoreOptions) -> None:
        self.client = client
        self.capabilities = client.capabilities
        self.rooms = tuple(dict.fromkeys(r.planon for r in rooms))
        self.options = options
        self.settings = client.settings
        self.f = client.settings.reservation_fields
        self.codec = Codec(client.settings)
        self.http = client.http
        self.clock: Callable[[], datetime] = client.clock
        # incremental-read state (memory only: a restarted process simply starts with a full read)
        self._cache: dict[int, Record] | None = None
        self._cached_window: Window | None = None
        self._watermark: datetime | None = None
        # open-ended series are written up to the end of the last window read (see Codec.plan)
        self._horizon: datetime | None = None

    # -- reading ---------------------------------------------------------------------------------------------------
    async def read(self, window: Window, *, full: bool, rooms: Collection[str] | None = None) -> Snapshot:
        units = await self.client.directory.units(self.rooms)
        unknown = frozenset(r for r in self.rooms if r not in units)
        if unknown:
            log.warning("planon: reservation unit code(s) not found: %s", ", ".join(sorted(unknown)))
        incremental = not full and self._incremental_possible(window)
        records, unreadable = await (
            self._read_changes(window, units) if incremental else self._read_window(window, units)
        )
        rooms_by_syscode = {u.syscode: code for code, u in units.items()}
        rows, skipped = self._rows(records, rooms_by_syscode)
        rows = [r for r in rows if window.overlaps(r.begin, r.end) and r.room not in unreadable]
        if self.f.changed_at and not unreadable:
            self._remember(window, records, rows, skipped)
        else:
            self._cache = None
        bookings, more_skipped = await self._bookings(rows, units, window)
        self._horizon = window.end
        return Snapshot(
            tuple(bookings),
            unreadable_rooms=unknown | unreadable,
            skipped=tuple(skipped + more_skipped),
            full=not incremental,
            series_to_extend=self.codec.unwritten(rows, window) & {b.id for b in bookings},
        )

    def _window_filter(self, window: Window, syscodes: list[int]) -> dict[str, Any]:
        # One hour of slack each side covers wall times that DST makes ambiguous; rows are clipped exactly later.
        slack = timedelta(hours=1)
        return {
            self.f.reservation_unit: {"in": syscodes},
            self.f.begin: {"lt": self.codec.wall(window.end + slack)},
            self.f.end: {"gt": self.codec.wall(window.start - slack)},
        }

    async def _read_window(self, window: Window, units: dict[str, UnitInfo]) -> tuple[list[Record], frozenset[str]]:
        return await self._read_chunks(units, lambda syscodes: self._window_filter(window, syscodes))

    async def _read_chunks(
        self, units: dict[str, UnitInfo], make_filter: Callable[[list[int]], dict[str, Any]]
    ) -> tuple[list[Record], frozenset[str]]:
        """One read per chunk of units, concurrently; a failed chunk makes its rooms unreadable."""
        infos = sorted(units.values(), key=lambda u: u.syscode)
        groups = list(chunks(infos, self.settings.chunk_size))
        definition = self.settings.definitions.reservation
        results = await asyncio.gather(
            *(self.http.read(definition, make_filter([u.syscode for u in g])) for g in groups), return_exceptions=True
        )
        records: list[Record] = []
        unreadable: set[str] = set()
        failures: list[BaseException] = []
        for group, result in zip(groups, results, strict=True):
            if isinstance(result, (AuthenticationFailed, PlanonConfigurationError)):
                raise result
            if isinstance(result, BaseException):
                if not isinstance(result, BackendError):
                    raise result
                failures.append(result)
                unreadable |= {u.code for u in group}
                log.warning("planon: reading %d room(s) failed: %s", len(group), result)
                continue
            records += result
        if groups and len(failures) == len(groups):
            raise failures[0]
        return records, frozenset(unreadable)

    def _incremental_possible(self, window: Window) -> bool:
        cached = self._cached_window
        return bool(
            self.f.changed_at
            and self._cache is not None
            and self._watermark is not None
            and cached is not None
            and window.start >= cached.start
        )

    async def _read_changes(self, window: Window, units: dict[str, UnitInfo]) -> tuple[list[Record], frozenset[str]]:
        """Changed reservations since the watermark (wherever they moved) plus the window's new tail."""
        assert self._cache is not None and self._watermark is not None and self._cached_window is not None
        since = self.codec.wall(self._watermark - timedelta(seconds=self.settings.change_overlap_seconds))
        changed, unreadable = await self._read_chunks(
            units, lambda s: {self.f.reservation_unit: {"in": s}, self.f.changed_at: {"ge": since}}
        )
        merged = dict(self._cache)
        if window.end > self._cached_window.end:
            tail = Window(max(self._cached_window.end, window.start), window.end)
            extra, more = await self._read_window(tail, units)
            changed += extra
            unreadable |= more
        for record in changed:
            syscode = record.get(self.f.syscode) if isinstance(record, dict) else None
            if isinstance(syscode, int):
                merged[syscode] = record
        return list(merged.values()), unreadable

    def _remember(self, window: Window, records: list[Record], rows: list[Row], skipped: list[SkippedItem]) -> None:
        keep = {r.syscode for r in rows} | {int(s.native_id) for s in skipped if s.native_id.isdigit()}
        self._cache = {
            record[self.f.syscode]: record
            for record in records
            if isinstance(record, dict) and record.get(self.f.syscode) in keep
        }
        self._cached_window = window
        marks = [r.changed for r in rows if r.changed is not None]
        if marks:
            self._watermark = max(marks + ([self._watermark] if self._watermark else []))
        elif self._watermark is None:
            self._cache = None  # nothing to take a watermark from: stay with full reads

    def _rows(self, records: Iterable[Record], rooms_by_syscode: dict[int, str]) -> tuple[list[Row], list[SkippedItem]]:
        """Readable rows and skipped items. A meeting with an unreadable reservation is skipped as a whole: shown
        with a reservation missing, a series would seem to have lost an occurrence and a meeting a room."""
        rows: list[Row] = []
        skipped: list[SkippedItem] = []
        tainted: set[str] = set()
        for record in records:
            try:
                rows.append(self.codec.row(record, rooms_by_syscode))
            except RowError as exc:
                unit = record.get(self.f.reservation_unit) if isinstance(record, dict) else None
                syscode = record.get(self.f.syscode) if isinstance(record, dict) else None
                meeting = record.get(self.f.meeting_id) if isinstance(record, dict) else None
                if isinstance(meeting, str) and meeting.strip():
                    tainted.add(meeting.strip())
                room = rooms_by_syscode.get(unit, "") if isinstance(unit, int) else ""
                skipped.append(SkippedItem(room, str(syscode if syscode is not None else "?"), str(exc)))
        for row in rows:
            if row.meeting_id in tainted:
                skipped.append(
                    SkippedItem(row.room, str(row.syscode), f"meeting {row.meeting_id} has an unreadable reservation")
                )
        return [r for r in rows if r.meeting_id not in tainted], skipped

    async def _bookings(
        self, rows: list[Row], units: dict[str, UnitInfo], window: Window | None
    ) -> tuple[list[Booking], list[SkippedItem]]:
        groups: dict[str, list[Row]] = defaultdict(list)
        for r in rows:
            groups[r.booking_id].append(r)
        requestors = {r.requestor for r in rows if r.requestor is not None}
        persons = await self.client.directory.persons(requestors) if requestors else {}
        zones = {code: u.time_zone for code, u in units.items()}
        bookings: list[Booking] = []
        skipped: list[SkippedItem] = []
        for booking_id, members in groups.items():
            try:
                bookings.append(self.codec.booking(booking_id, members, persons, zones, window))
            except (RowError, ValueError) as exc:
                skipped += [SkippedItem(r.room, str(r.syscode), f"meeting {booking_id}: {exc}") for r in members]
        return bookings, skipped

    async def lookup(self, ids: Collection[str]) -> dict[str, Booking]:
        wanted = set(ids)
        if not wanted:
            return {}
        units = await self.client.directory.units(self.rooms)
        rows = await self._rows_of(wanted, units)
        bookings, _ = await self._bookings(rows, units, None)
        return {b.id: b for b in bookings if b.id in wanted}

    async def _rows_of(self, ids: set[str], units: dict[str, UnitInfo]) -> list[Row]:
        """Every reservation (any time, any state) of the given meetings in this store's rooms."""
        definition = self.settings.definitions.reservation
        records: list[Record] = []
        for names in chunks(sorted(ids), self.settings.chunk_size):
            records += await self.http.read(definition, {self.f.meeting_id: {"in": names}})
        singles = sorted(int(i[1:]) for i in ids if i.startswith("R") and i[1:].isdigit())
        for syscodes in chunks(singles, self.settings.chunk_size):
            records += await self.http.read(definition, {self.f.syscode: {"in": syscodes}})
        rows, _ = self._rows(_unique(records, self.f.syscode), {u.syscode: c for c, u in units.items()})
        return [r for r in rows if r.booking_id in ids]

    # -- writing ---------------------------------------------------------------------------------------------------
    async def create(self, booking: Booking) -> Booking:
        units = await self._units_for(booking)
        existing: list[Row] = []
        booking_id = f"rs-{uuid.uuid4().hex[:20]}"
        if booking.link is not None:  # idempotent: a retry after a lost answer completes the first attempt
            found = await self._rows_with_peer(booking.link.peer_id, units)
            if found:
                booking_id = found[0].booking_id
                existing = await self._rows_of({booking_id}, units)
                log.info("planon: create for %s resumes meeting %s", booking.link.peer_id, booking_id)
        return await self._apply(booking_id, existing, booking, units, rollback=not existing)

    async def _rows_with_peer(self, peer_id: str, units: dict[str, UnitInfo]) -> list[Row]:
        records = await self.http.read(
            self.settings.definitions.reservation, {self.f.link: {"contains": f";{peer_id}"}}
        )
        rows, _ = self._rows(records, {u.syscode: c for c, u in units.items()})
        return sorted(
            (r for r in rows if r.live and r.link is not None and r.link.peer_id == peer_id), key=lambda r: r.syscode
        )

    async def update(self, current: Booking, desired: Booking, fields: Sequence[str]) -> Booking:
        units = await self._units_for(desired)
        existing = await self._rows_of({current.id}, units)
        if not existing:
            raise NotFound(f"Planon meeting {current.id} has no reservations in these rooms", backend=BACKEND)
        return await self._apply(current.id, existing, desired, units, rollback=False)

    async def cancel(self, current: Booking, reason: str) -> None:
        units = await self.client.directory.units(self.rooms)
        rows = await self._rows_of({current.id}, units)
        if not rows:
            raise NotFound(f"Planon meeting {current.id} has no reservations in these rooms", backend=BACKEND)
        now = self.clock()
        await self._cancel_rows([r for r in rows if r.live and r.end > now])

    async def respond(self, current: Booking, response: Response, comment: str) -> None:
        raise BackendError(
            "Planon reservations do not answer meeting requests; respond on the calendar side", backend=BACKEND
        )

    async def relink(self, current: Booking, link: Link) -> None:
        units = await self.client.directory.units(self.rooms)
        rows = [r for r in await self._rows_of({current.id}, units) if r.live]
        if not rows:
            raise NotFound(f"Planon meeting {current.id} has no live reservations in these rooms", backend=BACKEND)
        values = {self.f.link: link.encode(), self.f.meeting_id: current.id}
        stale = [r.syscode for r in rows if r.link_text != values[self.f.link] or r.meeting_id != current.id]
        for chunk in chunks(stale, self.settings.chunk_size):
            await self.http.update(self.settings.definitions.reservation, {self.f.syscode: {"in": chunk}}, values)

    async def aclose(self) -> None:
        return None  # the HTTP session belongs to the shared client

    # -- internals -------------------------------------------------------------------------------------------------
    async def _units_for(self, booking: Booking) -> dict[str, UnitInfo]:
        units = await self.client.directory.units(self.rooms)
        rooms = booking.rooms & set(self.rooms)
        missing = sorted(r for r in rooms if r not in units)
        if missing:
            raise BookingRefused(
                f"reservation unit(s) {', '.join(missing)} do not exist in Planon",
                code="RS_UNKNOWN_UNIT",
                backend=BACKEND,
            )
        if not rooms:
            raise BookingRefused("the booking has none of this RoomSync's rooms", code="RS_NO_ROOM", backend=BACKEND)
        return units

    async def _shared_values(self, booking_id: str, booking: Booking) -> dict[str, Any]:
        f = self.f
        values: dict[str, Any] = {
            f.meeting_id: booking_id,
            f.link: booking.link.encode() if booking.link else "",
            f.attendees: format_attendees(booking.required, booking.optional),
            f.recurrence: self.codec.series_text(booking),
        }
        organizer = booking.organizer
        syscode = None
        if organizer is not None:
            syscode = (await self.client.directory.person_syscodes([organizer.email])).get(organizer.email)
        values[f.requestor] = syscode
        values[f.external_requestor] = organizer.email if organizer is not None and syscode is None else ""
        if f.number_of_people:
            values[f.number_of_people] = 1 + len(booking.required) + len(booking.optional)
        return values

    async def _apply(
        self, booking_id: str, existing: list[Row], desired: Booking, units: dict[str, UnitInfo], *, rollback: bool
    ) -> Booking:
        """Make the meeting's reservations match ``desired``: cancel, then update, then create."""
        rooms = desired.rooms & set(self.rooms)
        planned = self.codec.plan(desired, rooms, self._horizon)
        cancels, updates, creates = diff(existing, planned, self.clock())
        shared = await self._shared_values(booking_id, desired)
        definition = self.settings.definitions.reservation
        await self._cancel_rows(cancels)
        batches: dict[str, tuple[dict[str, Any], list[int]]] = {}
        for row, plan in updates:
            values = self.codec.changed_values(row, plan, shared)
            if values:
                batches.setdefault(group_key(values), (values, []))[1].append(row.syscode)
        for values, syscodes in batches.values():
            for chunk in chunks(syscodes, self.settings.chunk_size):
                await self.http.update(definition, {self.f.syscode: {"in": chunk}}, values)
        created = await self._create_rows(creates, shared, units, rollback=rollback)
        native: dict[str, list[int]] = defaultdict(list)
        for row, plan in updates:
            native[plan.room].append(row.syscode)
        for plan, syscode in created:
            native[plan.room].append(syscode)
        for row in existing:
            if row.live and row.end <= self.clock() and row.room in rooms:
                native[row.room].append(row.syscode)
        return replace(
            desired,
            id=booking_id,
            rooms=frozenset(rooms),
            handle=handle_of(native, {}),
        )

    async def _create_rows(
        self, creates: list[Planned], shared: dict[str, Any], units: dict[str, UnitInfo], *, rollback: bool
    ) -> list[tuple[Planned, int]]:
        f = self.f
        definition = self.settings.definitions.reservation

        async def one(plan: Planned) -> tuple[Planned, int]:
            unit = units[plan.room]
            order_group = self.settings.order_group if self.settings.order_group is not None else unit.order_group
            values = {
                **shared,
                **self.codec.row_values(plan),
                f.reservation_unit: unit.syscode,
                f.property: unit.property,
                f.order_group: order_group,
            }
            values = {k: v for k, v in values.items() if v not in (None, "")}
            record = await self.http.add(definition, values)
            syscode = record.get(f.syscode) if isinstance(record, dict) else None
            if not isinstance(syscode, int):
                raise InvalidResponse("BomAdd answered a record without a syscode", backend=BACKEND)
            return plan, syscode

        results = await asyncio.gather(*(one(p) for p in creates), return_exceptions=True)
        done = [r for r in results if isinstance(r, tuple)]
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            refused = next((e for e in errors if isinstance(e, BookingRefused)), None)
            if refused is not None and rollback and done:
                await _quietly(self._cancel_syscodes([s for _, s in done]))
            raise refused or errors[0]
        return done

    async def _cancel_rows(self, rows: Sequence[Row]) -> None:
        await self._cancel_syscodes([r.syscode for r in rows if r.live])

    async def _cancel_syscodes(self, syscodes: list[int]) -> None:
        definition = self.settings.definitions.reservation
        for chunk in chunks(sorted(syscodes), self.settings.chunk_size):
            flt = {self.f.syscode: {"in": chunk}}
            if self.settings.cancel_mode == CANCEL_BY_DELETE:
                await self.http.delete(definition, flt)
            else:
                await self.http.change_state(definition, self.settings.states.cancel, flt)


def _unique(records: list[Record], key: str) -> list[Record]:
    seen: dict[object, Record] = {}
    for record in records:
        seen[record.get(key) if isinstance(record, dict) else id(record)] = record
    return list(seen.values())


async def _quietly(awaitable: Awaitable[T]) -> None:
    try:
        await awaitable
    except (BackendError, BackendUnavailable) as exc:
        log.warning("planon: rolling back a refused create failed: %s", exc)
