"""The Planon side of one RoomSync: its reservation units as a :class:`BookingStore`.

Requests per operation (steady state, master data cached): ``read`` = one ``/read`` per ``chunkSize`` units (an
incremental read adds one per chunk for the window's new tail; native series not synced yet add one per chunk of
series); ``lookup`` = one to three reads; ``create`` = one BomAdd per room and occurrence (plus one idempotency read
when the same create was sent before by this process and no read has shown its reservations since: a restarted
process reads everything first, so a reservation an earlier process made is paired by the read, never created
twice); ``update`` = one read of the meeting + one ``/update`` per distinct set of changed values and change time +
BomAdd/changeState for added/removed rooms or occurrences; ``cancel`` = one read + one ``/changeState`` per
``chunkSize`` reservations sharing a change time; ``relink`` = one ``/update`` for a single meeting the last read
returned (its reservations and change times come from that read's memory and the handle), else one read + one
``/update``.

Preconditions: every write first compares the change times it reads with the versions the booking was read with
(``Handle.versions``) and carries the change time in its own filter (``{Syscode: {in: [...]}, SysChangeDateTime:
{eq: ...}}``), so a reservation a person changed in between is not matched and not written: Planon answers fewer
records than were addressed and the write raises :class:`PreconditionFailed`. Without ``reservationFields.changedAt``
this is not possible; writes are then best effort (docs/planon.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar

from roomsync.connectors.base import (
    AuthenticationFailed,
    BackendError,
    BackendUnavailable,
    BookingRefused,
    InvalidResponse,
    NotFound,
    PreconditionFailed,
    Response,
    StoreOptions,
)
from roomsync.connectors.planon.codec import (
    Codec,
    Planned,
    Row,
    RowError,
    diff,
    group_key,
    handle_of,
    native_value,
)
from roomsync.connectors.planon.directory import UnitInfo, chunks
from roomsync.connectors.planon.http import PlanonConfigurationError, Record
from roomsync.connectors.planon.native import NotInferable, infer
from roomsync.connectors.planon.settings import CANCEL_BY_DELETE
from roomsync.connectors.planon.texts import SeriesText, format_attendees, format_occurrence
from roomsync.model import Booking, Link, Person, RoomPair, Side, SkippedItem, Snapshot, Window, fit, shortened

if TYPE_CHECKING:
    from roomsync.connectors.planon.client import PlanonClient

log = logging.getLogger("roomsync.connectors.planon")
BACKEND: Final = "planon"
T = TypeVar("T")


class Target(NamedTuple):
    """A reservation a write addresses, with the change time it was read at (its precondition)."""

    syscode: int
    room: str
    version: str | None


def targets(rows: Iterable[Row]) -> list[Target]:
    return [Target(r.syscode, r.room, r.version) for r in rows]


@dataclass(frozen=True)
class _Made:
    """A single meeting's booking as a read made it, and what it was made of."""

    rows: tuple[Row, ...]
    people: tuple[Person | None, ...]
    zones: dict[str, str]
    booking: Booking

    def same(self, rows: Sequence[Row], people: tuple[Person | None, ...], zones: dict[str, str]) -> bool:
        # one tuple comparison (identity first, element by element, in C): this runs for every meeting every cycle
        return zones is self.zones and tuple(rows) == self.rows and people == self.people


def _share_values(record: Record, shared: dict[object, object]) -> None:
    """Make the record's values that equal another record's of the same answer the same objects.

    Records stay in memory between reads (the incremental cache), and a JSON parser makes every value anew: at
    20,000 reservations the same states, sources, dates and ``{"date", "time"}`` pairs held about 1.5 KB per record
    (docs/performance.md, section 6). Values are replaced by equal ones, so the record reads the same; nothing
    writes to a record.
    """
    if not isinstance(record, dict):
        return  # not a record: the codec reports it
    for key, value in record.items():
        if isinstance(value, str):
            record[key] = shared.setdefault(value, value)
        elif isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            record[key] = shared.setdefault(tuple(value.items()), value)


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
        # native series already reported as not inferable (reported once per process, not every cycle)
        self._reported: set[str] = set()
        # creates sent by this process, as (peer id, link sequence), until a read shows their reservations: only a
        # repeat of one of these can find a reservation the read did not (see ``create``)
        self._attempted: set[tuple[str, int]] = set()
        self._rooms_by_syscode: tuple[dict[str, UnitInfo], dict[int, str]] | None = None
        self._zones: dict[str, str] = {}
        # what the last read made of each record and meeting. Records kept between reads (the incremental cache) are
        # the same objects until they change, so an unchanged reservation is neither parsed nor translated again and
        # its booking is handed back as the same object, whose fingerprint the engine keeps (docs/performance.md)
        self._parsed: dict[int, tuple[Record, dict[int, str], Row]] = {}
        self._made: dict[str, _Made] = {}

    # -- reading ---------------------------------------------------------------------------------------------------
    async def read(self, window: Window, *, full: bool, rooms: Collection[str] | None = None) -> Snapshot:
        units = await self.client.directory.units(self.rooms)
        unknown = frozenset(r for r in self.rooms if r not in units)
        if unknown:
            log.warning("planon: reservation unit code(s) not found: %s", ", ".join(sorted(unknown)))
        incremental = not full and self._incremental_possible(window)
        reach = _reach(window)
        records, unreadable = await (
            self._read_changes(reach, units) if incremental else self._read_window(reach, units)
        )
        rooms_by_syscode = self._room_of(units)
        rows, skipped = self._rows(records, rooms_by_syscode)
        self._parsed = {id(r): self._parsed[id(r)] for r in records if id(r) in self._parsed}  # this read's only
        rows = [r for r in rows if reach.overlaps(r.begin, r.end) and r.room not in unreadable]
        if self.f.changed_at and not unreadable:
            self._remember(reach, records, rows, skipped)
        else:
            self._cache = None
        rows = [r for r in rows if window.overlaps(r.begin, r.end)]
        bookings, more_skipped = await self._bookings(rows, units, window)
        self._horizon = window.end
        if self._attempted:
            seen = {(b.link.peer_id, b.link.seq) for b in bookings if b.link is not None}
            self._attempted -= seen
        return Snapshot(
            tuple(bookings),
            unreadable_rooms=unknown | unreadable,
            skipped=tuple(skipped + more_skipped),
            full=not incremental,
            needs_rewrite=self.codec.unwritten(rows, window) & {b.id for b in bookings},
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
            *(
                self.http.read(definition, make_filter([u.syscode for u in g]), room=g[0].code if len(g) == 1 else "")
                for g in groups
            ),
            return_exceptions=True,
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
            # the look-back overlap returns recently changed records every cycle: an equal one keeps the cached
            # object, so what was made of it is reused (see ``_row``)
            if isinstance(syscode, int) and merged.get(syscode) != record:
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
        shared: dict[object, object] = {}
        for record in records:
            try:
                rows.append(self._row(record, rooms_by_syscode, shared))
            except RowError as exc:
                unit = record.get(self.f.reservation_unit) if isinstance(record, dict) else None
                syscode = record.get(self.f.syscode) if isinstance(record, dict) else None
                group = self.codec.group_of(record) if isinstance(record, dict) else ""
                if group:
                    tainted.add(group)
                room = rooms_by_syscode.get(unit, "") if isinstance(unit, int) else ""
                skipped.append(SkippedItem(room, str(syscode if syscode is not None else "?"), str(exc)))
        for row in rows:
            if row.booking_id in tainted:
                skipped.append(
                    SkippedItem(row.room, str(row.syscode), f"meeting {row.booking_id} has an unreadable reservation")
                )
        return [r for r in rows if r.booking_id not in tainted], skipped

    def _row(self, record: Record, rooms_by_syscode: dict[int, str], shared: dict[object, object]) -> Row:
        """A record as a row; the same record object (kept from an earlier read) gives the same row object."""
        known = self._parsed.get(id(record))
        if known is not None and known[0] is record and known[1] is rooms_by_syscode:
            return known[2]
        _share_values(record, shared)
        row = self.codec.row(record, rooms_by_syscode)
        self._parsed[id(record)] = (record, rooms_by_syscode, row)
        return row

    async def _bookings(
        self, rows: list[Row], units: dict[str, UnitInfo], window: Window | None
    ) -> tuple[list[Booking], list[SkippedItem]]:
        groups: dict[str, list[Row]] = defaultdict(list)
        for r in rows:
            groups[r.booking_id].append(r)
        zones = self._zones_of(units)
        natives = await self._native_series(groups, units, window)
        requestors = {r.requestor for members in groups.values() for r in members if r.requestor is not None}
        persons = await self.client.directory.persons(requestors) if requestors else {}
        bookings: list[Booking] = []
        skipped: list[SkippedItem] = []
        made: dict[str, _Made] = {}
        for booking_id, members in groups.items():
            series, originals = natives.get(booking_id, (None, None))
            # an inferred series holds every reservation, so its exceptions are known everywhere, not only in the
            # window (a relink writes them as RoomSync's bookkeeping)
            scope = None if series is not None else window
            # a single meeting (no series: its booking does not depend on the window) made of the same rows, for
            # the same organizer and zones, is the same booking: handed back as the same object (see __init__)
            single = series is None and all(r.series is None for r in members)
            people = tuple(persons.get(r.requestor) if r.requestor is not None else None for r in members)
            known = self._made.get(booking_id) if single else None
            if known is not None and known.same(members, people, zones):
                booking = known.booking
            else:
                try:
                    booking = self.codec.booking(
                        booking_id, members, persons, zones, scope, inferred=series, originals=originals
                    )
                except (RowError, ValueError) as exc:
                    skipped += [SkippedItem(r.room, str(r.syscode), f"meeting {booking_id}: {exc}") for r in members]
                    continue
            if single:
                made[booking_id] = _Made(tuple(members), people, zones, booking)
            bookings.append(booking)
        if window is not None:  # a read: what it made is what the next read may hand back
            self._made = made
        return bookings, skipped

    async def _native_series(
        self, groups: dict[str, list[Row]], units: dict[str, UnitInfo], window: Window | None
    ) -> dict[str, tuple[SeriesText, dict[int, datetime]]]:
        """Infer the native series RoomSync has not written its bookkeeping onto yet (``groups`` is changed).

        Such a series is read as a whole (a window shows only part of it), its rule inferred from every reservation,
        cancelled ones included. A series that follows no pattern RoomSync infers, or that was split up earlier,
        becomes one meeting per reservation: reported once, never dropped.
        """
        pending = [
            key for key, members in groups.items() if key.startswith("N") and not any(r.meeting_id for r in members)
        ]
        if not pending:
            return {}
        complete = {key: groups[key] for key in pending}
        if window is not None:  # a lookup already read every reservation of the series
            complete = {key: [] for key in pending}
            for row in await self._native_rows(pending, units):
                if row.native in complete:
                    complete[row.native].append(row)
        found: dict[str, tuple[SeriesText, dict[int, datetime]]] = {}
        for key in pending:
            members = complete[key] or groups[key]
            if any(r.meeting_id == key for r in members):
                continue  # RoomSync's bookkeeping is there, outside the window: read as a RoomSync series
            try:
                if any(r.meeting_id for r in members):
                    raise NotInferable("some of its reservations are synced as meetings of their own")
                if len(members) > 1:
                    series = infer(members, units[members[0].room].time_zone)
                    found[key] = (series.series, dict(series.originals))
                    groups[key] = members
                    continue
            except NotInferable as why:
                if key not in self._reported:
                    log.warning("planon: native series %s: %s; each reservation is synced as its own meeting", key, why)
                    self._reported.add(key)
            for row in groups.pop(key):  # a series of one, or one RoomSync cannot infer: a meeting per reservation
                groups[f"R{row.syscode}"] = [replace(row, group=f"R{row.syscode}")]
        return found

    async def _native_rows(self, keys: Sequence[str], units: dict[str, UnitInfo]) -> list[Row]:
        """Every reservation (any time, any state) of these native series in this store's rooms."""
        values = sorted((v for k in keys if (v := native_value(k)) is not None), key=str)
        records: list[Record] = []
        for chunk in chunks(values, self.settings.chunk_size):
            records += await self.http.read(
                self.settings.definitions.reservation, {self.f.native_series: {"in": chunk}}
            )
        rows, _ = self._rows(records, self._room_of(units))
        return rows

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
        natives = [i for i in ids if native_value(i) is not None] if self.f.native_series else []
        rows, _ = self._rows(_unique(records, self.f.syscode), self._room_of(units))
        known = {r.syscode for r in rows}
        rows += [r for r in await self._native_rows(natives, units) if r.syscode not in known]
        found = []
        for r in rows:
            if r.booking_id in ids:
                found.append(r)
            elif f"R{r.syscode}" in ids and not r.meeting_id:  # a native reservation synced as a meeting of its own
                found.append(replace(r, group=f"R{r.syscode}"))
        return found

    # -- writing ---------------------------------------------------------------------------------------------------
    async def create(self, booking: Booking) -> Booking:
        units = await self._units_for(booking)
        existing: list[Row] = []
        booking_id = f"rs-{uuid.uuid4().hex[:20]}"
        attempt = (booking.link.peer_id, booking.link.seq) if booking.link is not None else None
        if attempt is not None and attempt in self._attempted:
            # idempotent: a retry after a lost answer (or any repeat) completes the first attempt
            found = await self._rows_with_peer(attempt[0], units)
            if found:
                booking_id = found[0].booking_id
                existing = await self._rows_of({booking_id}, units)
                log.info("planon: create for %s resumes meeting %s", attempt[0], booking_id)
        if attempt is not None:
            self._attempted.add(attempt)
        return await self._apply(booking_id, existing, booking, units, rollback=not existing)

    async def _rows_with_peer(self, peer_id: str, units: dict[str, UnitInfo]) -> list[Row]:
        records = await self.http.read(
            self.settings.definitions.reservation, {self.f.link: {"contains": f";{peer_id}"}}
        )
        rows, _ = self._rows(records, self._room_of(units))
        return sorted(
            (r for r in rows if r.live and r.link is not None and r.link.peer_id == peer_id), key=lambda r: r.syscode
        )

    async def update(self, current: Booking, desired: Booking, fields: Sequence[str]) -> Booking:
        units = await self._units_for(desired)
        existing = await self._rows_of({current.id}, units)
        if not existing:
            raise NotFound(f"Planon meeting {current.id} has no reservations in these rooms", backend=BACKEND)
        self._check_versions(current, existing)
        return await self._apply(current.id, existing, desired, units, rollback=False)

    async def cancel(self, current: Booking, reason: str) -> None:
        units = await self.client.directory.units(self.rooms)
        rows = await self._rows_of({current.id}, units)
        if not rows:
            raise NotFound(f"Planon meeting {current.id} has no reservations in these rooms", backend=BACKEND)
        self._check_versions(current, rows)
        now = self.clock()
        await self._cancel(targets(r for r in rows if r.live and r.end > now))

    async def respond(self, current: Booking, response: Response, comment: str) -> None:
        raise BackendError(
            "Planon reservations do not answer meeting requests; respond on the calendar side", backend=BACKEND
        )

    async def relink(self, current: Booking, link: Link) -> None:
        units = await self.client.directory.units(self.rooms)
        rows = self._rows_as_read(current, units)
        if rows is None:
            rows = await self._rows_of({current.id}, units)
        live = [r for r in rows if r.live]
        if not live:
            raise NotFound(f"Planon meeting {current.id} has no live reservations in these rooms", backend=BACKEND)
        self._check_versions(current, rows)
        shared = {self.f.link: link.encode(), self.f.meeting_id: current.id}
        batches: dict[str, tuple[dict[str, Any], list[Row]]] = {}
        for row, bookkeeping in self._bookkeeping(current, live).items():
            values = {k: v for k, v in (shared | bookkeeping).items() if v != self._written(row, k)}
            if values:
                batches.setdefault(group_key(values), (values, []))[1].append(row)
        for values, stale in batches.values():
            await self._update(targets(stale), values)

    def _rows_as_read(self, current: Booking, units: dict[str, UnitInfo]) -> list[Row] | None:
        """The reservations of a single (non-recurring) meeting exactly as the last read saw them, from memory: its
        handle names every one of them with the change time it was read at, and the write's filter carries those
        change times, so Planon itself refuses the write when one changed since. No read request is needed
        (a link write-back after a create costs one request). ``None`` when memory cannot vouch for them: a series
        (its reservations outside the window were not read), no change time configured, or not read by this
        store's last read; the caller reads them."""
        handle, cache = current.handle, self._cache
        if current.recurrence is not None or handle is None or cache is None or not self.f.changed_at:
            return None
        versions = handle.versions
        ids = handle.ids()
        if not ids or set(versions) != set(ids):
            return None
        records = []
        for syscode in ids:
            record = cache.get(int(syscode)) if syscode.isdigit() else None
            if record is None or self.codec.version_of(record) != versions[syscode]:
                return None
            records.append(record)
        rows, skipped = self._rows(records, self._room_of(units))
        if skipped or any(r.booking_id != current.id for r in rows):
            return None
        return rows

    def _bookkeeping(self, current: Booking, live: Sequence[Row]) -> dict[Row, dict[str, Any]]:
        """What RoomSync keeps on each live reservation of a series besides the link: the series text and each
        occurrence's id. A native series synced for the first time has neither; with them, later Planon edits read
        as the exceptions they are. Reservations of a meeting RoomSync wrote already carry them: nothing to add."""
        if current.recurrence is None or all(r.series is not None and r.occurrence is not None for r in live):
            return {r: {} for r in live}
        rooms = current.rooms & set(self.rooms)
        originals = {(p.room, p.begin, p.end): p.original for p in self.codec.plan(current, rooms, self._horizon)}
        text = self.codec.series_text(current)
        result: dict[Row, dict[str, Any]] = {}
        for r in live:
            original = originals.get((r.room, r.begin, r.end))
            result[r] = {self.f.recurrence: text} | (
                {self.f.occurrence_id: format_occurrence(original)} if original is not None else {}
            )
        return result

    def _written(self, row: Row, name: str) -> object:
        """A bookkeeping field's current text on a reservation (what a relink compares before writing)."""
        current = {
            self.f.link: row.link_text,
            self.f.meeting_id: row.meeting_id,
            self.f.recurrence: row.series_text,
            self.f.occurrence_id: format_occurrence(row.occurrence) if row.occurrence else "",
        }
        return current[name]

    def _check_versions(self, current: Booking, rows: Sequence[Row]) -> None:
        """Refuse a write when a reservation changed (or went) since ``current`` was read: nothing is written."""
        versions = current.handle.versions if current.handle is not None else {}
        fresh = {str(r.syscode): r.version for r in rows}
        stale = sorted((s for s, version in versions.items() if fresh.get(s) != version), key=int)
        if stale:
            raise PreconditionFailed(
                f"Planon reservation(s) {', '.join(stale)} of meeting {current.id} changed since RoomSync read them; "
                "nothing was written",
                backend=BACKEND,
            )

    async def aclose(self) -> None:
        return None  # the HTTP session belongs to the shared client

    # -- internals -------------------------------------------------------------------------------------------------
    def _room_of(self, units: dict[str, UnitInfo]) -> dict[int, str]:
        """Unit syscode -> room code, kept while the directory answers with the same units (every write asks)."""
        if self._rooms_by_syscode is None or self._rooms_by_syscode[0] is not units:
            self._rooms_by_syscode = (units, {u.syscode: code for code, u in units.items()})
            self._zones = {code: u.time_zone for code, u in units.items()}
        return self._rooms_by_syscode[1]

    def _zones_of(self, units: dict[str, UnitInfo]) -> dict[str, str]:
        """Room code -> time zone, kept like :meth:`_room_of`."""
        self._room_of(units)
        return self._zones

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
        fitted = fit(booking, self.codec.limits)  # what Planon can hold; the engine compares the same
        notes = shortened(booking, self.codec.limits)
        if notes:
            log.info("planon: meeting %s shortened to fit Planon: %s", booking_id, "; ".join(notes))
        left_out = len(booking.required) + len(booking.optional) - len(fitted.required) - len(fitted.optional)
        values: dict[str, Any] = {
            f.meeting_id: booking_id,
            f.link: booking.link.encode() if booking.link else "",
            f.attendees: format_attendees(fitted.required, fitted.optional, left_out),
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
        await self._cancel(targets(cancels))
        batches: dict[str, tuple[dict[str, Any], list[Row]]] = {}
        for row, plan in updates:
            values = self.codec.changed_values(row, plan, shared)
            if values:
                batches.setdefault(group_key(values), (values, []))[1].append(row)
        for values, rows in batches.values():
            await self._update(targets(rows), values)
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
            record = await self.http.add(definition, values, room=plan.room)
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
                await _quietly(self._cancel([Target(s, p.room, None) for p, s in done]))
            raise refused or errors[0]
        return done

    # -- writes with their precondition ----------------------------------------------------------------------------
    async def _update(self, addressed: list[Target], values: Mapping[str, Any]) -> None:
        definition = self.settings.definitions.reservation
        for flt, room, chunk in self._filters(addressed):
            answered = await self.http.update(definition, flt, values, room=room)
            await self._check_answer(chunk, answered, deleting=False)

    async def _cancel(self, addressed: list[Target]) -> None:
        definition = self.settings.definitions.reservation
        deleting = self.settings.cancel_mode == CANCEL_BY_DELETE
        for flt, room, chunk in self._filters(addressed):
            if deleting:
                answered = await self.http.delete(definition, flt, room=room)
            else:
                answered = await self.http.change_state(definition, self.settings.states.cancel, flt, room=room)
            await self._check_answer(chunk, answered, deleting=deleting)

    def _filters(self, addressed: list[Target]) -> Iterable[tuple[dict[str, Any], str, list[Target]]]:
        """One filter per chunk of reservations read at the same change time, which the filter requires."""
        by_version: dict[str | None, list[Target]] = defaultdict(list)
        for target in sorted(addressed):
            by_version[target.version].append(target)
        for version, group in by_version.items():
            for chunk in chunks(group, self.settings.chunk_size):
                flt: dict[str, Any] = {self.f.syscode: {"in": [t.syscode for t in chunk]}}
                if version is not None and self.f.changed_at:
                    flt[self.f.changed_at] = {"eq": json.loads(version)}
                rooms = {t.room for t in chunk}
                yield flt, (rooms.pop() if len(rooms) == 1 else ""), chunk

    async def _check_answer(self, addressed: list[Target], answered: list[Record], *, deleting: bool) -> None:
        """Planon answers the records it wrote; one that is missing was not written. Read it to say why: gone
        (``NotFound``; for a delete that answers no records, done), changed since it was read
        (``PreconditionFailed``), or unchanged (an answer that left it out: ``InvalidResponse``)."""
        written = {r.get(self.f.syscode) for r in answered if isinstance(r, dict)}
        missing = [t for t in addressed if t.syscode not in written]
        if not missing:
            return
        records = await self.http.read(
            self.settings.definitions.reservation, {self.f.syscode: {"in": [t.syscode for t in missing]}}
        )
        now = {r.get(self.f.syscode): self.codec.version_of(r) for r in records if isinstance(r, dict)}
        gone = [t.syscode for t in missing if t.syscode not in now]
        changed = [
            t.syscode for t in missing if t.syscode in now and t.version is not None and now[t.syscode] != t.version
        ]
        if gone and not deleting:
            raise NotFound(
                f"Planon reservation(s) {_listed(gone)} are gone; nothing was written to them", backend=BACKEND
            )
        if changed:
            raise PreconditionFailed(
                f"Planon reservation(s) {_listed(changed)} changed since RoomSync read them; nothing was written to "
                "them",
                backend=BACKEND,
            )
        unanswered = [t.syscode for t in missing if t.syscode in now and t.syscode not in changed]
        if unanswered:
            raise InvalidResponse(
                f"Planon did not answer reservation(s) {_listed(unanswered)} that the write addressed", backend=BACKEND
            )


def _reach(window: Window) -> Window:
    """What a read fetches for ``window``: up to two days past the day it ends, so a window rolling forward with the
    clock is still covered by the last read for a day and an incremental read needs no extra request for its new
    tail every cycle (only the first cycle of a day reads one). Bookings are clipped to ``window`` exactly."""
    end = datetime.combine(window.end.astimezone(UTC).date(), time(), UTC) + timedelta(days=2)
    return Window(window.start, max(end, window.end))


def _listed(syscodes: Sequence[int]) -> str:
    return ", ".join(str(s) for s in sorted(syscodes))


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
