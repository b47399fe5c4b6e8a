"""One sync cycle of one RoomSync, the same code path for ``roomsync sync``, the demo and the operator."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from roomsync.connectors.base import AuthenticationFailed, BackendError, BookingStore
from roomsync.engine import ActionKind, Plan, Policy, dangling_peer_ids, plan
from roomsync.model import Booking, RoomPair, Side, Snapshot, Window
from roomsync.sync.apply import ApplyReport, apply

log = logging.getLogger(__name__)
#: How often one cycle reads and plans again after writes met a newer edit; more waits for the next cycle.
REPLANS = 1


@dataclass(frozen=True)
class RoomSummary:
    planon: str
    calendar: str
    bookings: int = 0
    pending: int = 0
    last_error: str | None = None


@dataclass
class CycleResult:
    """What a cycle saw, decided and did; the status and the CLI output are built from it."""

    name: str
    started: datetime
    full: bool
    dry_run: bool
    duration: float = 0.0
    snapshots: dict[Side, Snapshot] = field(default_factory=dict)
    plan: Plan | None = None
    report: ApplyReport | None = None
    error: BackendError | None = None
    error_side: Side | None = None
    rooms: list[RoomSummary] = field(default_factory=list)
    #: the Connection each side reads through, so an error names the object a person has to fix
    connections: Mapping[Side, str] = field(default_factory=dict)

    def where(self, side: Side) -> str:
        """``Calendar (Connection exchange-online)``, or just the side when the Connection is not known."""
        name = self.connections.get(side)
        return f"{side.value} (Connection {name})" if name else side.value

    @property
    def reason(self) -> str:
        """The CamelCase reason the Ready condition shows."""
        if self.error is not None:
            return self.error.reason
        if self.plan is not None and self.plan.refused:
            return "MassDeleteRefused"
        if self.report is not None and self.report.failed:
            return "ActionsFailed"
        if any(s.unreadable_rooms for s in self.snapshots.values()):
            return "PartialRead"
        if any(s.skipped for s in self.snapshots.values()):
            return "ItemsSkipped"
        return "Synced"

    @property
    def ok(self) -> bool:
        return self.reason == "Synced"

    @property
    def message(self) -> str:
        if self.error is not None:
            side = f"{self.where(self.error_side)}: " if self.error_side else ""
            return f"{side}{self.error}"
        if self.plan is not None and self.plan.refused:
            return self.plan.refused
        if self.report is not None and self.report.failed:
            first = self.report.failed[0]
            return f"{len(self.report.failed)} action(s) failed; first: {first.action.describe()}: {first.error}"
        unreadable = [f"{side.value}: {', '.join(sorted(s.unreadable_rooms))}" for side, s in self.snapshots.items()]
        if any(s.unreadable_rooms for s in self.snapshots.values()):
            where = "; ".join(u for u, s in zip(unreadable, self.snapshots.values(), strict=True) if s.unreadable_rooms)
            return (
                f"room(s) could not be read completely ({where}): "
                "nothing of theirs was deleted on the other side, everything else was synced; the next cycle "
                "retries (the operator log has the cause)"
            )
        skipped = [(side, item) for side, s in self.snapshots.items() for item in s.skipped]
        if skipped:
            side, item = skipped[0]
            return (
                f"{len(skipped)} item(s) could not be translated and were skipped (their peers are kept); first: "
                f"{side.value} room {item.room} item {item.native_id}: {item.reason}"
            )
        if self.dry_run and self.plan is not None and self.plan.actions:
            return f"dry run: {len(self.plan.actions)} change(s) planned, none written"
        written = sum(1 for o in self.report.outcomes if o.ok) if self.report is not None else 0
        if written:
            return f"{written} change(s) written; both sides now agree"
        return "both sides agree"

    @property
    def counters(self) -> Counter[str]:
        counters: Counter[str] = Counter(self.report.counters if self.report else {})
        if self.plan is not None:
            counters["skipped"] += sum(len(s.skipped) for s in self.snapshots.values())
        return counters


async def run_cycle(
    name: str,
    policy: Policy,
    rooms: list[RoomPair],
    stores: Mapping[Side, BookingStore],
    now: datetime,
    *,
    full: bool,
    dry_run: bool = False,
    changed_rooms: Collection[str] | None = None,
    connections: Mapping[Side, str] | None = None,
) -> CycleResult:
    """Read both sides, resolve dangling links, plan, and (unless dry-run or refused) apply.

    ``changed_rooms`` (room keys) narrows the reads to the rooms that may have changed (a notification); the stores
    serve the others from what they read last. A write refused because its item changed after the read
    (``PreconditionFailed``) makes the cycle read those rooms again and plan again, once (``REPLANS``).
    """
    result = CycleResult(name=name, started=now, full=full, dry_run=dry_run, connections=connections or {})
    clock = time.perf_counter()
    try:
        window = policy.window(now)
        for attempt in range(REPLANS + 1):
            await _read_both(result, stores, window, full=full and attempt == 0, rooms=changed_rooms)
            result.plan = plan(policy, result.snapshots[Side.PLANON], result.snapshots[Side.CALENDAR], now)
            if dry_run or result.plan.refused or not result.plan.actions:
                break
            report = await apply(result.plan, stores)
            result.report = report if result.report is None else result.report.followed_by(report)
            if not report.stale or attempt == REPLANS:
                break
            changed_rooms = {room for outcome in report.stale for room in outcome.action.rooms}
            log.info("%s: %d write(s) met a newer edit; reading and planning again", name, len(report.stale))
    except _SideError as failure:
        result.error, result.error_side = failure.as_backend_error(), failure.side
        where = failure.side.value if failure.side else "both sides"
        log.warning("%s: reading %s failed: %s", name, where, result.error)
    result.rooms = _summaries(rooms, result)
    result.duration = time.perf_counter() - clock
    return result


async def _read_both(
    result: CycleResult,
    stores: Mapping[Side, BookingStore],
    window: Window,
    *,
    full: bool,
    rooms: Collection[str] | None,
) -> None:
    sides = (Side.PLANON, Side.CALENDAR)
    reads = await asyncio.gather(
        *(stores[side].read(window, full=full, rooms=rooms) for side in sides), return_exceptions=True
    )
    failed = [
        _SideError(side, read) for side, read in zip(sides, reads, strict=True) if isinstance(read, BaseException)
    ]
    if len(failed) == 2:  # both are reported: fixing one must not just reveal the other
        first, second = (f.as_backend_error() for f in failed)
        both = type(first)(
            f"{result.where(Side.PLANON)}: {first}; {result.where(Side.CALENDAR)}: {second}", backend=first.backend
        )
        raise _SideError(None, both)
    if failed:
        raise failed[0]
    for side, read in zip(sides, reads, strict=True):
        result.snapshots[side] = read  # type: ignore[assignment]
    await _resolve_dangling_links(result.snapshots, stores)


class _SideError(Exception):
    def __init__(self, side: Side | None, error: BaseException) -> None:
        super().__init__(str(error))
        self.side, self.error = side, error

    def as_backend_error(self) -> BackendError:
        if isinstance(self.error, BackendError):
            return self.error
        if isinstance(self.error, Exception):
            wrapped = BackendError(f"{type(self.error).__name__}: {self.error}")
            wrapped.reason = "InternalError"
            return wrapped
        raise self.error  # KeyboardInterrupt, CancelledError and the like are not ours to swallow


async def _resolve_dangling_links(snapshots: dict[Side, Snapshot], stores: Mapping[Side, BookingStore]) -> None:
    """Point-read linked peers the window read did not return (moved out of the window, or really gone)."""
    missing_calendar, missing_planon = dangling_peer_ids(
        snapshots[Side.PLANON].bookings, snapshots[Side.CALENDAR].bookings
    )
    for side, ids in ((Side.CALENDAR, missing_calendar), (Side.PLANON, missing_planon)):
        if not ids:
            continue
        try:
            found = await stores[side].lookup(sorted(ids))
        except BackendError as error:
            if isinstance(error, AuthenticationFailed):
                raise _SideError(side, error) from error
            # Whoever links to these peers is left alone this cycle (their rooms count as unreadable on ``side``),
            # so one throttled or broken mailbox neither stops the other rooms nor passes for a deletion.
            linkers = snapshots[side.other].bookings
            rooms = {room for b in linkers if b.link is not None and b.link.peer_id in ids for room in b.rooms}
            snapshots[side] = replace(snapshots[side], unreadable_rooms=snapshots[side].unreadable_rooms | rooms)
            log.warning("looking up %d linked item(s) in %s failed: %s", len(ids), side.value, error)
            continue
        except BaseException as error:
            raise _SideError(side, error) from error
        if found:
            extra: tuple[Booking, ...] = tuple(found.values())
            snapshots[side] = replace(snapshots[side], bookings=snapshots[side].bookings + extra)


def _summaries(rooms: list[RoomPair], result: CycleResult) -> list[RoomSummary]:
    bookings: Counter[str] = Counter()
    for booking in result.snapshots.get(Side.PLANON, Snapshot(())).bookings:
        if not booking.cancelled:
            bookings.update(booking.rooms)
    pending: Counter[str] = Counter()
    errors: dict[str, str] = {}
    if result.plan is not None:
        applied_ok = {id(o.action) for o in result.report.outcomes if o.ok} if result.report else set()
        for action in result.plan.actions:
            if id(action) not in applied_ok and action.kind is not ActionKind.RELINK:
                pending.update(action.rooms)
    if result.report is not None:
        for outcome in result.report.failed:
            for room in outcome.action.rooms:
                errors.setdefault(room, f"{outcome.action.describe()}: {outcome.error}")
    for snapshot in result.snapshots.values():
        for item in snapshot.skipped:
            errors.setdefault(item.room, f"skipped item {item.native_id}: {item.reason}")
        for room in snapshot.unreadable_rooms:
            errors.setdefault(room, "could not be read completely")
    return [RoomSummary(r.planon, r.calendar, bookings[r.key], pending[r.key], errors.get(r.key)) for r in rooms]
