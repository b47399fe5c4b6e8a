"""What the connector remembers of one room mailbox between cycles: its deltaLink and the items of the last read.

Cost model (the point of this module):

- full read: one delta round to obtain a deltaLink, calendarView with the link property ``$expand``ed (delta cannot
  ``$expand``), and one GET per series master (pattern, cancelled occurrences and exceptions);
- incremental read: ONE delta request when nothing changed. Changed items already known keep the link data
  cached from the last full read or from our own writes (link data only changes through our writes); unknown items
  are fetched once with ``$expand``; a series whose occurrences changed has its master fetched once.

The delta round runs over a window aligned to whole days and a little wider than asked, so a rolling window keeps
the same deltaLink for about a day (a deltaLink is bound to its window). ``@removed`` means deleted *or* out of the
window: the item simply leaves the snapshot; the engine looks missing linked bookings up by id.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from msgraph.generated.models.event import Event

from roomsync.connectors.base import NotFound
from roomsync.connectors.graph.calls import MailboxCalls
from roomsync.connectors.graph.errors import DeltaExpired
from roomsync.connectors.graph.items import Item, ItemError, from_event, is_removed
from roomsync.model import Window

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
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    full_reads: int = 0
    incremental_reads: int = 0

    def _parse(self, event: Event) -> Item | None:
        try:
            item = from_event(event, self.link_id, self.people_id)
        except ItemError as exc:
            self.skipped[event.id or "?"] = str(exc)
            return None
        self.skipped.pop(item.id, None)
        return item

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
        _, link = await self.calls.delta(start, end, None)  # the deltaLink first: later changes are replayed
        events = await self.calls.calendar_view(start, end)
        items: dict[str, Item] = {}
        self.skipped.clear()
        for event in events:
            item = self._parse(event)
            if item is not None:
                items[item.id] = item
        wanted = {i.series_master_id for i in items.values() if i.series_master_id}
        masters = await self._fetch_masters(wanted)
        self.items, self.masters = items, masters
        self.delta_link, self.span = link, (start, end)

    async def _incremental(self) -> None:
        assert self.delta_link is not None and self.span is not None
        changes, link = await self.calls.delta(self.span[0], self.span[1], self.delta_link)
        refresh_masters: set[str] = set()
        unknown: list[Item] = []
        for event in changes:
            if not event.id:
                continue
            if is_removed(event):
                gone = self.items.pop(event.id, None)
                self.skipped.pop(event.id, None)
                if gone is not None and gone.series_master_id:
                    refresh_masters.add(gone.series_master_id)
                self.masters.pop(event.id, None)
                continue
            item = self._parse(event)
            if item is None:
                continue
            if item.series_master_id:
                self.items[item.id] = item
                refresh_masters.add(item.series_master_id)
                continue
            known = self.items.get(item.id)
            if known is not None:
                self.items[item.id] = item.with_props(known.link_text, known.people_text)
            else:
                unknown.append(item)
        for item, fetched in zip(unknown, await asyncio.gather(*(self._get(i.id) for i in unknown)), strict=True):
            if fetched is not None:  # None: deleted since the delta round; the next round says so too
                self.items[item.id] = fetched
        live = {i.series_master_id for i in self.items.values() if i.series_master_id}
        refreshed = await self._fetch_masters(refresh_masters & live)
        for master_id in refresh_masters:
            self.masters.pop(master_id, None)
        self.masters.update(refreshed)
        self.delta_link = link

    async def _get(self, event_id: str) -> Item | None:
        try:
            return self._parse(await self.calls.get(event_id))
        except NotFound:
            return None

    async def _fetch_masters(self, ids: set[str]) -> dict[str, Item]:
        async def one(master_id: str) -> Item | None:
            try:
                return self._parse(await self.calls.get(master_id, master=True))
            except NotFound:
                return None

        found = await asyncio.gather(*(one(i) for i in sorted(ids)))
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

    def set_props(self, item_id: str, link_text: str | None, people_text: str | bool | None = False) -> None:
        """Record link (and people, unless ``False``) written by us."""
        for table in (self.items, self.masters):
            item = table.get(item_id)
            if item is not None:
                table[item_id] = item.with_props(link_text, item.people_text if people_text is False else people_text)  # type: ignore[arg-type]

    def forget(self, item_id: str) -> None:
        self.items.pop(item_id, None)
        self.masters.pop(item_id, None)

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
