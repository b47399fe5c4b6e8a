"""What the connector remembers of one room calendar between cycles: its sync token and the events of the last read.

Cost model (the point of this module):

- full read: one PROPFIND (the collection's ``sync-token``, whether it offers ``sync-collection``, its
  ``calendar-timezone``) then one ``calendar-query`` over the span with the data. The token is taken first, so a
  change made during the query is reported again by the next sync, never lost.
- incremental read: ONE ``sync-collection`` REPORT when nothing changed. Changed members whose ETag the cache
  already holds (RoomSync's own writes) cost nothing more; the others are fetched in one ``calendar-multiget``.
  The library's silent fallback to a full listing is off: an invalid token is a :class:`SyncTokenInvalid` and the
  caller does a full read, whose snapshot deletes nothing by itself (the engine looks missing linked bookings up).
- a server without sync-collection (not advertised, or refused when tried): each cycle one ``calendar-query`` over
  the span with ETags only, and one ``calendar-multiget`` for what changed; members gone from the span leave it.

The span is the window widened to whole days plus two, so a rolling window keeps its token for about a day; when
the window has moved past it, the next read is full (members that only entered the window by the passing of time
are not reported by a sync).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

import icalendar

from roomsync.connectors.caldav.calls import CalendarCalls, Entry
from roomsync.connectors.caldav.errors import SyncTokenInvalid, SyncUnsupported
from roomsync.connectors.caldav.resource import Resource, ResourceError, parse
from roomsync.model import UnknownTimeZone, Window, to_iana

log = logging.getLogger(__name__)
SPAN_SLACK = timedelta(days=2)
MULTIGET_CHUNK = 200


def span_of(window: Window) -> tuple[datetime, datetime]:
    start = datetime.combine(window.start.date(), time(), UTC)
    return start, datetime.combine(window.end.date(), time(), UTC) + SPAN_SLACK


def overlaps(resource: Resource, start: datetime, end: datetime) -> bool:
    if resource.recurrence is None:
        return resource.start < end and resource.end > start
    duration = resource.end - resource.start
    return bool(resource.recurrence.occurrences(resource.start, duration, resource.timezone, start, end))


def _could_overlap(problem: ResourceError, start: datetime, end: datetime) -> bool:
    """Whether an untranslatable member may be in ``[start, end)`` (when unsure: yes)."""
    if problem.start is None:
        return True
    if problem.recurring or problem.end is None:
        return problem.start < end
    return problem.start < end and problem.end > start


def calendar_zone(ical: str | None) -> str | None:
    """The IANA zone named by a collection's ``calendar-timezone`` (a VCALENDAR with one VTIMEZONE)."""
    if not ical:
        return None
    try:
        for component in icalendar.Calendar.from_ical(ical).walk("VTIMEZONE"):
            return to_iana(str(component.get("TZID") or ""))
    except (ValueError, UnknownTimeZone):
        log.warning("calendar-timezone %r names no zone RoomSync knows; using spec.caldav.timeZone", ical[:80])
    return None


@dataclass
class CalendarState:
    calls: CalendarCalls
    default_zone: str
    zone: str | None = None
    sync_token: str | None = None
    use_sync: bool = True
    #: the server refused sync-collection once although it advertises it: not tried again by later full reads
    sync_refused: bool = False
    span: tuple[datetime, datetime] | None = None
    resources: dict[str, Resource] = field(default_factory=dict)  # href -> event
    skipped: dict[str, tuple[str | None, ResourceError]] = field(default_factory=dict)  # href -> (etag, why)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def room(self) -> str:
        return self.calls.room

    @property
    def room_zone(self) -> str:
        """Where all-day events and floating times are: the collection's calendar-timezone, else the spec's."""
        return self.zone or self.default_zone

    def covers(self, window: Window) -> bool:
        return self.span is not None and self.span[0] <= window.start and window.end <= self.span[1]

    async def refresh(self, window: Window, *, full: bool) -> None:
        async with self.lock:
            if not full and self.covers(window) and (self.sync_token or not self.use_sync):
                try:
                    if self.use_sync:
                        await self._changes()
                    else:
                        await self._compare_etags()
                    return
                except SyncTokenInvalid as exc:
                    log.info("sync token of %s refused (%s): full read", self.calls.url, exc)
                except SyncUnsupported as exc:
                    log.info("%s refuses sync-collection (%s): comparing ETags from now on", self.calls.url, exc)
                    self.use_sync, self.sync_refused = False, True
                    await self._compare_etags()
                    return
            await self._full(window)

    async def _full(self, window: Window) -> None:
        span = span_of(window)
        info = await self.calls.info()  # the token first: later changes are reported again, never lost
        self.zone = calendar_zone(info.time_zone_ical)
        self.use_sync = info.supports_sync and not self.sync_refused
        entries = await self.calls.query(*span, data=True)
        self.resources.clear()
        self.skipped.clear()
        self.span = span
        self._absorb(entries)
        self.sync_token = info.sync_token if self.use_sync else None

    async def _changes(self) -> None:
        assert self.sync_token is not None
        changes = await self.calls.changes(self.sync_token)
        for href in changes.deleted:
            self.forget(href)
        stale = [href for href, etag in changes.changed.items() if etag is None or self._etag(href) != etag]
        await self._fetch(stale)
        self.sync_token = changes.token

    async def _compare_etags(self) -> None:
        assert self.span is not None
        listed = {e.href: e.etag for e in await self.calls.query(*self.span, data=False)}
        for href in [h for h in (*self.resources, *self.skipped) if h not in listed]:
            self.forget(href)  # deleted, or moved out of the span
        await self._fetch([href for href, etag in listed.items() if etag is None or self._etag(href) != etag])

    async def _fetch(self, hrefs: list[str]) -> None:
        for first in range(0, len(hrefs), MULTIGET_CHUNK):
            chunk = hrefs[first : first + MULTIGET_CHUNK]
            entries = await self.calls.multiget(chunk)
            for gone in set(chunk) - {e.href for e in entries}:
                self.forget(gone)  # deleted since the server listed it
            self._absorb(entries)

    def _etag(self, href: str) -> str | None:
        resource = self.resources.get(href)
        if resource is not None:
            return resource.etag
        skipped = self.skipped.get(href)
        return skipped[0] if skipped else None

    def _absorb(self, entries: Iterable[Entry]) -> None:
        assert self.span is not None
        for entry in entries:
            self.forget(entry.href)
            try:
                resource = self.parse(entry)
            except ResourceError as problem:
                if _could_overlap(problem, *self.span):
                    self.skipped[entry.href] = (entry.etag, problem)
                continue
            if resource is not None and overlaps(resource, *self.span):
                self.resources[entry.href] = resource

    def parse(self, entry: Entry) -> Resource | None:
        if entry.text is None:
            raise ResourceError("the server sent no calendar data")
        return parse(entry.text, entry.href, entry.etag, room=self.room, room_zone=self.room_zone)

    # -- write-through: RoomSync's own writes come back through sync at no cost ---------------------------------------
    def remember(self, resource: Resource) -> None:
        self.skipped.pop(resource.href, None)
        self.resources[resource.href] = resource

    def forget(self, href: str) -> None:
        self.resources.pop(href, None)
        self.skipped.pop(href, None)

    def in_window(self, window: Window) -> list[Resource]:
        return [r for r in self.resources.values() if overlaps(r, window.start, window.end)]

    def skipped_in(self, window: Window) -> list[tuple[str, str]]:
        return [
            (href, str(problem))
            for href, (_, problem) in self.skipped.items()
            if _could_overlap(problem, window.start, window.end)
        ]

    def by_uid(self, uid: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.uid == uid]
