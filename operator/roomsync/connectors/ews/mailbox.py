"""What the connector remembers of one room mailbox between cycles: its SyncFolderItems state and the items it read.

How the state is established (the first read of a room - a restart, or a sync state Exchange no longer knows):

1. the state first: SyncFolderItems from an empty state with the IdOnly shape and 512 changes per page, the items'
   ids ignored - a cheap walk (ids only) that only yields "where the folder is now". Taken *before* the window is
   read, a change made while the window is being read is reported again by the next incremental read (a harmless
   replay) instead of being lost;
2. then the window: FindItem with a CalendarView (occurrences expanded; a view cut short at EWSFindCountLimit is read
   again in halves), one GetItem for the singles and for the series masters of the occurrences
   (RecurringMasterItemId), and one GetItem for the subjects of modified occurrences.

An incremental read is then ONE SyncFolderItems request when nothing changed (IdOnly: ids and ChangeKeys). Changed
items are fetched with one GetItem - except those whose ChangeKey the cache already holds (a replay). A changed
occurrence is reported as its master (the folder holds masters, not occurrences), so the master and its modified
occurrences are read again. The state is kept only after the changes it reports are in the cache, so a failed read
is simply replayed. When the window moves past what was read, only the new tail is read (a calendar view of it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from roomsync.connectors.base import InvalidResponse
from roomsync.connectors.ews import calls
from roomsync.connectors.ews.errors import BACKEND, SyncStateInvalid
from roomsync.connectors.ews.items import FIELDS, Item, ItemError, from_calendar_item
from roomsync.model import Window

if TYPE_CHECKING:
    from roomsync.connectors.ews.client import EwsClient

log = logging.getLogger(__name__)
SPAN_SLACK = timedelta(days=2)
#: GetItem ids per request (exchangelib's chunk size)
GET_CHUNK = 100
MIN_VIEW = timedelta(hours=1)


def read_span(window: Window) -> tuple[datetime, datetime]:
    """The window widened to whole days plus slack, so a rolling window stays inside what was read for a day."""
    start = datetime.combine(window.start.date(), time(), UTC)
    end = datetime.combine(window.end.date(), time(), UTC) + SPAN_SLACK
    return start, end


@dataclass
class MailboxState:
    client: EwsClient
    mailbox: str
    sync_state: str | None = None
    span: tuple[datetime, datetime] | None = None
    items: dict[str, Item] = field(default_factory=dict)  # singles and series masters, by item id
    skipped: dict[str, str] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    full_reads: int = 0
    incremental_reads: int = 0
    #: (item id, ChangeKey) -> the ChangeKey our own UpdateItem turned it into
    superseded: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def fields(self) -> list[str]:
        return [*FIELDS, self.client.link_attr, self.client.people_attr]

    async def _run(self, what: str, fn: Any, *args: Any) -> Any:
        return await self.client.run(self.mailbox, what, lambda folders: fn(folders, *args))

    # -- reading ---------------------------------------------------------------------------------------------------
    async def refresh(self, window: Window, *, full: bool) -> None:
        async with self.lock:
            self.superseded.clear()  # versions come from this read now
            start, end = read_span(window)
            if not full and self.sync_state is not None and self.span is not None and start >= self.span[0]:
                try:
                    await self._incremental()
                    if end > self.span[1]:
                        await self._extend(end)
                    self._forget_the_past(start)
                    self.incremental_reads += 1
                    return
                except SyncStateInvalid as exc:
                    log.info("ews: sync state of %s is no longer valid (%s): reading the window", self.mailbox, exc)
                    self.sync_state = None
            await self._full(start, end)
            self.full_reads += 1

    def _forget_the_past(self, start: datetime) -> None:
        """Single items that ended before the read span leave the cache (SyncFolderItems reports every change in the
        folder, wherever it lies, so without this the cache would only grow); the span starts there from now on."""
        assert self.span is not None
        for item_id in [i.id for i in self.items.values() if not i.is_master and i.end < start]:
            del self.items[item_id]
        self.span = (max(self.span[0], start), self.span[1])

    async def _full(self, start: datetime, end: datetime) -> None:
        if self.sync_state is None:
            self.sync_state = await self._fast_forward()
        seen = await self._view(start, end)
        self.skipped.clear()
        self.items = await self._load(seen)
        self.span = (start, end)

    async def _fast_forward(self) -> str:
        """A sync state for "now", from an IdOnly walk of the folder (the ids are not kept)."""
        state: str | None = None
        while True:
            new_state: str
            _, new_state, last = await self._run("SyncFolderItems", calls.sync_page, state, calls.FAST_FORWARD_PAGE)
            if last or new_state == state:
                return new_state
            state = new_state

    async def _view(self, start: datetime, end: datetime) -> list[calls.Seen]:
        seen: list[calls.Seen]
        seen, complete = await self._run("FindItem", calls.view, start, end)
        if complete:
            return seen
        if end - start <= MIN_VIEW:
            raise InvalidResponse(
                f"{self.mailbox} holds more than {calls.VIEW_LIMIT} items between {start} and {end}", backend=BACKEND
            )
        middle = start + (end - start) / 2
        first, second = await self._view(start, middle), await self._view(middle, end)
        return list({s.id: s for s in first + second}.values())

    async def _load(self, seen: Sequence[calls.Seen]) -> dict[str, Item]:
        """Singles by id and the masters of occurrences (one per series), with their exceptions' subjects."""
        singles = [calls.item_id(s.id, s.change_key) for s in seen if s.type == "Single"]
        masters: dict[str, calls.Seen] = {}
        for s in seen:
            if s.type in ("Occurrence", "Exception"):
                masters.setdefault(s.uid or s.id, s)
        wanted = singles + [calls.master_id(s) for s in masters.values()]
        return await self.fetch(wanted)

    async def fetch(self, wanted: Sequence[Any]) -> dict[str, Item]:
        items: dict[str, Item] = {}
        for offset in range(0, len(wanted), GET_CHUNK):
            chunk = wanted[offset : offset + GET_CHUNK]
            for found in await self._run("GetItem", calls.get, chunk, self.fields):
                item = self._parse(found)
                if item is not None:
                    items[item.id] = item
        moved = {m.item_id: i.id for i in items.values() for m in i.modified}
        if moved:
            subjects: dict[str, str] = {}
            ids = [calls.item_id(i) for i in moved]
            for offset in range(0, len(ids), GET_CHUNK):
                for found in await self._run("GetItem", calls.get, ids[offset : offset + GET_CHUNK], ["subject"]):
                    if not isinstance(found, Exception) and found.id:
                        subjects[found.id] = found.subject or ""
            for master_id in set(moved.values()):
                items[master_id] = items[master_id].with_subjects(subjects)
        return items

    def _parse(self, found: Any) -> Item | None:
        if isinstance(found, Exception):
            return None  # gone since it was listed: the next sync page reports the deletion
        try:
            item = from_calendar_item(
                found, self.client.link_attr, self.client.people_attr, self.client.settings.time_zone
            )
        except ItemError as exc:
            self.skipped[found.id or "?"] = str(exc)
            return None
        self.skipped.pop(item.id, None)
        return item

    async def _incremental(self) -> None:
        assert self.sync_state is not None
        state = self.sync_state
        changed: dict[str, str] = {}
        deleted: set[str] = set()
        while True:
            page, new_state, last = await self._run(
                "SyncFolderItems", calls.sync_page, state, self.client.settings.page_size
            )
            for kind, seen in page:
                if kind == "delete":
                    deleted.add(seen.id)
                    changed.pop(seen.id, None)
                    continue
                deleted.discard(seen.id)
                known = self.items.get(seen.id)
                if known is None or known.change_key != seen.change_key:
                    changed[seen.id] = seen.change_key
            if last or new_state == state:
                state = new_state
                break
            state = new_state
        fetched = await self.fetch([calls.item_id(i, ck) for i, ck in changed.items()]) if changed else {}
        for item_id in deleted | (set(changed) - set(fetched)):
            self.items.pop(item_id, None)
            self.skipped.pop(item_id, None)
        self.items.update(fetched)
        self.sync_state = state

    async def _extend(self, end: datetime) -> None:
        """Read the part of a moved window beyond what was read before (new occurrences of known series too)."""
        assert self.span is not None
        seen = await self._view(self.span[1], end)
        known_uids = {i.uid for i in self.items.values()}
        unknown = [s for s in seen if s.id not in self.items and (s.type == "Single" or s.uid not in known_uids)]
        self.items.update(await self._load(unknown))
        self.span = (self.span[0], end)

    # -- after our own writes ----------------------------------------------------------------------------------------
    def forget(self, item_id: str) -> None:
        self.items.pop(item_id, None)

    def supersede(self, item_id: str, old: str, new: str) -> None:
        """Our own UpdateItem moved the item from ChangeKey ``old`` to ``new``."""
        self.superseded[(item_id, old)] = new

    def version(self, item_id: str, read: str) -> str:
        """The ChangeKey to send for an item read at ``read``: a later key only when our own writes made it, so a
        second write planned on the same read (an answer after an update) is not refused because of the first."""
        seen = {read}
        while (item_id, read) in self.superseded and self.superseded[(item_id, read)] not in seen:
            read = self.superseded[(item_id, read)]
            seen.add(read)
        return read

    def in_window(self, window: Window) -> list[Item]:
        """Singles overlapping the window and every series master that may (the store checks the series)."""
        return [
            i
            for i in self.items.values()
            if (i.is_master and i.start < window.end)
            or (not i.is_master and i.start < window.end and i.end > window.start)
        ]
