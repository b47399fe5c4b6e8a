"""What the connector remembers of one room mailbox between cycles: its deltaLink and the items of the last read.

Cost model (the point of this module):

- full read: one delta round to obtain a deltaLink, calendarView with the link property ``$expand``ed (delta cannot
  ``$expand``; skipped when the delta round found the window empty), and one GET per series master (pattern,
  cancelled occurrences and exceptions);
- incremental read: ONE delta request when nothing changed. A delta entry for a known item is merged into it
  (Graph sends "at least the properties that have been updated", so a missing property keeps its cached value;
  link data only changes through our own writes, which are written through); an entry for an unknown item that may
  carry a RoomSync link is fetched once, with ``$expand`` (:meth:`MailboxState.needs_get` says which may); a series
  whose occurrences changed has its master fetched once; an item a write found changed (a stale ``If-Match``) is
  fetched again.
- the mailbox's time zone (mailboxSettings) is read once, and only when an all-day event has to be placed.

The delta round runs over a window aligned to whole days and a little wider than asked, so a rolling window keeps
the same deltaLink for about a day (a deltaLink is bound to its window). ``@removed`` means deleted *or* out of the
window: the item simply leaves the snapshot; the engine looks missing linked bookings up by id. For a series master
(Graph reports a series changed outside the window by its master's id) the master is fetched again while any of its
occurrences is still held, and dropped otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta

from roomsync.connectors.base import BackendUnavailable, NotFound
from roomsync.connectors.graph.calls import MailboxCalls
from roomsync.connectors.graph.errors import DeltaExpired, MailboxAccessDenied
from roomsync.connectors.graph.items import (
    Item,
    ItemError,
    Json,
    carries_properties,
    complete,
    from_json,
    is_removed,
    organizer_of,
)
from roomsync.model import UnknownTimeZone, Window, to_iana

log = logging.getLogger(__name__)
UTC = UTC
DELTA_SLACK = timedelta(days=2)


def delta_window(window: Window) -> tuple[datetime, datetime]:
    start = datetime.combine(window.start.date(), time(), UTC)
    end = datetime.combine(window.end.date(), time(), UTC) + DELTA_SLACK
    return start, end


@dataclass
class MailboxState:
    calls: MailboxCalls
    link_id: str
    people_id: str
    delta_link: str | None = None
    span: tuple[datetime, datetime] | None = None
    items: dict[str, Item] = field(default_factory=dict)  # instances (singles, occurrences, exceptions)
    masters: dict[str, Item] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    #: ids a write found changed since they were read: fetched again by the next read
    stale: set[str] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    full_reads: int = 0
    incremental_reads: int = 0
    #: the mailbox's own zone (mailboxSettings), where all-day dates are placed; None: not known (yet)
    day_zone: str | None = None
    zone_asked: bool = False
    #: every room mailbox of the client (casefolded; the client's own set, so rooms added later count): a meeting one
    #: of them organises may carry a link RoomSync wrote
    room_mailboxes: Collection[str] = frozenset()
    #: ``hash()`` of the ids of items that carried a link RoomSync wrote or read in this process and that are not held
    #: now (they left the window, were cancelled, or were written without being read): fetched whole should they come
    #: back. A hash, not the id (about 50 bytes instead of 250): a collision costs one GET, never a lost link.
    linked: set[int] = field(default_factory=set)

    # -- translating ---------------------------------------------------------------------------------------------
    async def ensure_day_zone(self, events: Sequence[Json]) -> None:
        """Ask the mailbox for its zone the first time an all-day event has to be placed."""
        if self.zone_asked or not any(e.get("isAllDay") or self._cached_all_day(e) for e in events):
            return
        try:
            name = await self.calls.mailbox_time_zone()
        except MailboxAccessDenied as exc:  # no MailboxSettings.Read: the event's own zone places the dates
            log.warning(
                "mailboxSettings of %s unreadable (%s): all-day dates in the event's zone", self.calls.mailbox, exc
            )
            name = None
        except BackendUnavailable as exc:
            log.info("mailboxSettings of %s not read now (%s)", self.calls.mailbox, exc)
            return
        self.zone_asked = True
        try:
            self.day_zone = to_iana(name) if name else None
        except UnknownTimeZone:
            log.warning("mailbox %s has a time zone RoomSync does not know: %r", self.calls.mailbox, name)

    def _cached_all_day(self, event: Json) -> bool:
        cached = self.items.get(event.get("id") or "") or self.masters.get(event.get("id") or "")
        return cached is not None and cached.all_day

    def parse(self, event: Json, base: Item | None = None) -> Item:
        """Raises :class:`ItemError`; call :meth:`ensure_day_zone` first."""
        return from_json(event, self.link_id, self.people_id, base=base, day_zone=self.day_zone)

    async def read(self, events: Sequence[Json]) -> list[Item]:
        """Whole events (a GET, a write's answer) as items; raises :class:`ItemError`."""
        await self.ensure_day_zone(events)
        return [self.parse(e) for e in events]

    def _parse_or_skip(self, event: Json, base: Item | None = None) -> Item | None:
        try:
            item = self.parse(event, base)
        except ItemError as exc:
            self.skipped[event.get("id") or "?"] = str(exc)
            return None
        self.skipped.pop(item.id, None)
        return item

    # -- reading ---------------------------------------------------------------------------------------------------
    def covers(self, window: Window) -> bool:
        return self.span is not None and self.span[0] <= window.start and window.end <= self.span[1]

    async def refresh(self, window: Window, *, full: bool) -> None:
        async with self.lock:
            if not full and self.delta_link and self.covers(window):
                try:
                    await self._incremental()
                    self.incremental_reads += 1
                    return
                except DeltaExpired as exc:
                    log.info("delta token of %s expired (%s): full read", self.calls.mailbox, exc)
            await self._full(window)
            self.full_reads += 1

    async def _full(self, window: Window) -> None:
        start, end = delta_window(window)
        self.delta_link = None
        # the deltaLink first: later changes are replayed. Its first round lists everything in the window, so an
        # empty one means an empty calendar: no calendarView needed (the first sync of new rooms costs 1 request)
        listed, link = await self.calls.delta(start, end, None)
        events = await self.calls.calendar_view(start, end) if listed else []
        await self.ensure_day_zone(events)
        items: dict[str, Item] = {}
        self.skipped.clear()
        for event in events:
            item = self._parse_or_skip(event)
            if item is not None:
                items[item.id] = item
        wanted = {i.series_master_id for i in items.values() if i.series_master_id}
        masters = await self._fetch_masters(wanted)
        for old in self.items.values():  # moved out of the window (not ended): it may come back
            if old.id not in items and old.end > window.start:
                self._left(old)
        self.linked.difference_update(hash(i) for i in items)
        self.items, self.masters, self.stale = items, masters, set()
        self.delta_link, self.span = link, (start, end)

    async def _incremental(self) -> None:
        assert self.delta_link is not None and self.span is not None
        changes, link = await self.calls.delta(self.span[0], self.span[1], self.delta_link)
        await self.ensure_day_zone(changes)
        refresh_masters: set[str] = set()
        fetch: set[str] = set(self.stale)
        for event in changes:
            event_id = event.get("id")
            if not event_id:
                continue
            if is_removed(event):
                self._removed(event_id, refresh_masters)
                continue
            known = self.items.get(event_id)
            if known is None and self.needs_get(event):
                fetch.add(event_id)
                continue
            item = self._parse_or_skip(event, known)
            if item is None:
                continue
            self.items[item.id] = item
            if item.series_master_id:
                refresh_masters.add(item.series_master_id)
        for item_id in sorted(fetch):
            if item_id in self.masters:
                refresh_masters.add(item_id)
                continue
            fetched = await self._get(item_id)
            if fetched is None:  # deleted since: the next round says so too
                self.items.pop(item_id, None)
                continue
            self.items[item_id] = fetched
            self.linked.discard(hash(item_id))
            if fetched.series_master_id:
                refresh_masters.add(fetched.series_master_id)
        self.stale.clear()
        live = {i.series_master_id for i in self.items.values() if i.series_master_id}
        refreshed = await self._fetch_masters(refresh_masters & live)
        for master_id in refresh_masters:
            self.masters.pop(master_id, None)
        self.masters.update(refreshed)
        self.delta_link = link

    def needs_get(self, event: Json) -> bool:
        """Whether a delta entry for an item the cache does not hold must be read whole (a GET with ``$expand``).

        Delta returns no extended properties (graph-and-ews.md 1.2), so an entry cannot show a RoomSync link. The
        GET is skipped only where no link can be: a single meeting a person organised (a meeting request the room
        received) that RoomSync never linked in this process. RoomSync writes links only on items it created (the
        room organises them) or read (held, or in :attr:`linked` once they left), and Planon carries the link of
        every pair, so such an item pairs by Planon's link all the same (docs/exchange-online.md, section 4).
        Kept: an entry that is not whole, anything a room of ours organises (our creates, also one whose answer
        was lost, and the copies other rooms receive of them), series, and ids RoomSync linked.
        """
        if not complete(event):
            return True  # a bare entry is no booking: read the item whole
        if event.get("seriesMasterId"):
            return False  # an occurrence or exception: its link is its master's, fetched with the master
        if carries_properties(event):
            return False  # a Graph that sends the extended properties in delta: nothing to fetch
        if event.get("type") != "singleInstance" or hash(event["id"]) in self.linked:
            return True
        if event.get("isOrganizer") is not False or "responseStatus" not in event or "attendees" not in event:
            return True
        organizer = organizer_of(event)
        return not organizer or organizer == self.calls.mailbox or organizer in self.room_mailboxes

    def _left(self, item: Item) -> None:
        """An item leaves the cache: remember its id if it carried a link (see :attr:`linked`)."""
        if item.link_text is not None:
            self.linked.add(hash(item.id))

    def _removed(self, item_id: str, refresh_masters: set[str]) -> None:
        self.skipped.pop(item_id, None)
        gone = self.items.pop(item_id, None)
        if gone is not None:
            self._left(gone)
            if gone.series_master_id:
                refresh_masters.add(gone.series_master_id)
        if item_id in self.masters:
            # a series changed outside the window: fetched again while occurrences of it are held, else dropped
            if any(i.series_master_id == item_id for i in self.items.values()):
                refresh_masters.add(item_id)
            else:
                self.masters.pop(item_id)

    async def _get(self, event_id: str) -> Item | None:
        try:
            event = await self.calls.get(event_id)
        except NotFound:
            return None
        await self.ensure_day_zone([event])
        return self._parse_or_skip(event)

    async def _fetch_masters(self, ids: set[str]) -> dict[str, Item]:
        async def one(master_id: str) -> Json | None:
            try:
                return await self.calls.get(master_id, master=True)
            except NotFound:
                return None

        events = [e for e in await asyncio.gather(*(one(i) for i in sorted(ids))) if e is not None]
        await self.ensure_day_zone(events)
        found = [self._parse_or_skip(e) for e in events]
        return {m.id: m for m in found if m is not None}

    # -- write-through, so our own writes coming back through delta cost nothing ------------------------------------
    def remember(self, item: Item) -> None:
        if item.type == "seriesMaster":
            self.masters[item.id] = item
            for inst in self.items.values():
                if inst.series_master_id == item.id:
                    self.items[inst.id] = inst.with_props(item.link_text, item.people_text)
        else:
            self.items[item.id] = item

    def set_props(
        self,
        item_id: str,
        link_text: str | bool | None = False,
        people_text: str | bool | None = False,
        *,
        change_key: str | None = None,
    ) -> None:
        """Record what our write stored: link and people (``False``: unchanged) and the item's new version."""
        held = item_id in self.items or item_id in self.masters
        if link_text and not held:  # written without being held (a lookup's copy): fetched should it come in
            self.linked.add(hash(item_id))
        for table in (self.items, self.masters):
            item = table.get(item_id)
            if item is None:
                continue
            link = item.link_text if link_text is False else link_text
            people = item.people_text if people_text is False else people_text
            item = item.with_props(link, people)  # type: ignore[arg-type]
            table[item_id] = replace(item, change_key=change_key) if change_key else item

    def invalidate(self, item_id: str) -> None:
        """A write found the item changed since it was read: the next read fetches it again."""
        self.stale.add(item_id)

    def forget(self, item_id: str) -> None:
        for table in (self.items, self.masters):
            gone = table.pop(item_id, None)
            if gone is not None:
                self._left(gone)

    def in_window(self, window: Window) -> tuple[list[Item], list[Item]]:
        """(singles, masters) of this mailbox with something inside ``window``."""
        singles, master_ids = [], set()
        for item in self.items.values():
            if not (item.start < window.end and item.end > window.start):
                continue
            if item.series_master_id:
                master_ids.add(item.series_master_id)
            else:
                singles.append(item)
        return singles, [self.masters[m] for m in sorted(master_ids) if m in self.masters]
