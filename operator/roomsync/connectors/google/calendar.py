"""One room calendar: its calls, its syncToken and the items of the last read.

Cost model (the point of this module):

- full read: ``events.list`` over the window (aligned to whole days, a little wider, so a rolling window keeps its
  token for a couple of days), ``singleEvents=false`` (masters, their instance records, singles) and
  ``showDeleted=true``, page after page; the last page's ``nextSyncToken`` is kept;
- incremental read: ONE ``events.list?syncToken=`` when nothing changed. A sync token cannot carry a time window,
  so changes anywhere in the calendar arrive and are filtered here; cancelled stubs (often only an ``id``) are
  merged into what was known, so a deleted booking is reported cancelled with its link instead of vanishing;
- 410 ``fullSyncRequired``: a full read of the window, which deletes nothing on its own (absence in a full read is
  resolved by the engine's point look-ups, never taken for a deletion here); a failed read keeps the old token
  and items and the room is reported unreadable.

Our own writes are written through into the cache with the answer's etag, so they cost nothing to read back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from roomsync.connectors.google.errors import Duplicate, SyncTokenExpired
from roomsync.connectors.google.items import Item, ItemError, from_event
from roomsync.model import Window

if TYPE_CHECKING:
    from roomsync.connectors.google.client import GoogleClient

log = logging.getLogger(__name__)
UTC = UTC
SLACK = timedelta(days=2)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_span(window: Window) -> tuple[datetime, datetime]:
    start = datetime.combine(window.start.date(), time(), UTC)
    return start, datetime.combine(window.end.date(), time(), UTC) + SLACK


@dataclass
class CalendarState:
    client: GoogleClient
    calendar: str
    time_zone: str = "UTC"
    sync_token: str | None = None
    span: tuple[datetime, datetime] | None = None
    items: dict[str, Item] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    #: our own writes: item id -> (etag it was read at, etag our write left), so a later write in the same cycle
    #: sends the etag of our own write instead of failing its precondition on itself
    advanced: dict[str, tuple[str, str]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    full_reads: int = 0
    incremental_reads: int = 0

    # -- calls ------------------------------------------------------------------------------------------------
    async def _call(self, operation: str, request: Any) -> Any:
        return await self.client.caller.call(
            self.calendar, self.calendar, operation, request, f"{operation} ({self.calendar})"
        )

    @property
    def events(self) -> Any:
        return self.client.calendar_service.events()

    def parse(self, event: Mapping[str, Any]) -> Item:
        s = self.client.settings
        return from_event(event, self.calendar, self.time_zone, s.link_property, s.people_property)

    async def _pages(self, operation: str, **params: Any) -> tuple[list[dict[str, Any]], str | None]:
        items: list[dict[str, Any]] = []
        token = None
        while True:
            answer = await self._call(operation, self.events.list(calendarId=self.calendar, pageToken=token, **params))
            self.time_zone = str(answer.get("timeZone") or self.time_zone)
            items += answer.get("items") or []
            token = answer.get("nextPageToken")
            if not token:
                return items, answer.get("nextSyncToken")

    async def get(self, event_id: str) -> Item:
        return self.parse(await self._call("events.get", self.events.get(calendarId=self.calendar, eventId=event_id)))

    async def find_by_uid(self, ical_uid: str) -> list[Item]:
        """Everything with this iCalUID (masters, instance records, singles), also outside any window."""
        events, _ = await self._pages(
            "events.list",
            iCalUID=ical_uid,
            showDeleted=True,
            singleEvents=False,
            maxResults=self.client.settings.page_size,
        )
        return [self.parse(e) for e in events]

    async def instances(self, master_id: str, lo: datetime, hi: datetime) -> list[Item]:
        result: list[Item] = []
        token = None
        while True:
            request = self.events.instances(
                calendarId=self.calendar,
                eventId=master_id,
                timeMin=iso(lo),
                timeMax=iso(hi),
                showDeleted=True,
                pageToken=token,
            )
            answer = await self._call("events.instances", request)
            result += [self.parse(e) for e in answer.get("items") or []]
            token = answer.get("nextPageToken")
            if not token:
                return result

    def precondition(self, item_id: str, version: str | None) -> str | None:
        ours = self.advanced.get(item_id)
        return ours[1] if ours is not None and ours[0] == version else version

    async def write(
        self, operation: str, request: Any, *, if_match: str | None = None, item_id: str | None = None
    ) -> Item | None:
        """Send a write (with ``If-Match`` when given) and keep the answer in the cache."""
        if if_match:
            request.headers["If-Match"] = self.precondition(item_id or "", if_match)
        answer = await self._call(operation, request)
        if not answer:
            return None
        item = self.parse(answer)
        self.remember(item, read_at=if_match)
        return item

    async def insert(self, body: Mapping[str, Any], send_updates: str) -> Item:
        """An insert with a client-supplied id: a 409 ``duplicate`` means an earlier attempt made it: fetch it."""
        try:
            item = await self.write(
                "events.insert", self.events.insert(calendarId=self.calendar, body=dict(body), sendUpdates=send_updates)
            )
        except Duplicate:
            item = await self.get(str(body["id"]))
            self.remember(item)
        assert item is not None
        return item

    # -- reading ------------------------------------------------------------------------------------------------
    def covers(self, window: Window) -> bool:
        return self.span is not None and self.span[0] <= window.start and window.end <= self.span[1]

    async def refresh(self, window: Window, *, full: bool) -> None:
        async with self.lock:
            if not full and self.sync_token and self.covers(window):
                try:
                    await self._incremental()
                    self.incremental_reads += 1
                    return
                except SyncTokenExpired as exc:
                    log.info("sync token of %s expired (%s): full read", self.calendar, exc)
            await self._full(window)
            self.full_reads += 1

    async def _full(self, window: Window) -> None:
        start, end = read_span(window)
        events, token = await self._pages(
            "events.list",
            timeMin=iso(start),
            timeMax=iso(end),
            showDeleted=True,
            singleEvents=False,
            maxResults=self.client.settings.page_size,
        )
        items: dict[str, Item] = {}
        self.skipped.clear()
        for event in events:
            item = self._parse_or_skip(event)
            if item is not None:
                items[item.id] = item.merged_into(self.items.get(item.id))
        self.items, self.sync_token, self.span, self.advanced = items, token, (start, end), {}

    async def _incremental(self) -> None:
        assert self.sync_token is not None and self.span is not None
        events, token = await self._pages(
            "events.list",
            syncToken=self.sync_token,
            showDeleted=True,
            singleEvents=False,
            maxResults=self.client.settings.page_size,
        )
        for event in events:
            item = self._parse_or_skip(event)
            if item is None:
                continue
            known = self.items.get(item.id)
            if item.stub and known is None and item.recurring_event_id is None:
                continue  # something we never held was deleted
            self.items[item.id] = item.merged_into(known)
        horizon = self.span[0]
        self.items = {k: i for k, i in self.items.items() if i.recurrence or i.end is None or i.end > horizon}
        self.sync_token = token

    def _parse_or_skip(self, event: Mapping[str, Any]) -> Item | None:
        try:
            item = self.parse(event)
        except ItemError as exc:
            self.skipped[str(event.get("id") or "?")] = str(exc)
            return None
        self.skipped.pop(item.id, None)
        return item

    # -- write-through ----------------------------------------------------------------------------------------------
    def remember(self, item: Item, read_at: str | None = None) -> None:
        previous = self.items.get(item.id)
        self.items[item.id] = item.merged_into(previous)
        if read_at:
            self.advanced[item.id] = (read_at, item.etag)

    def forget(self, item_id: str) -> None:
        known = self.items.get(item_id)
        if known is not None:
            self.items[item_id] = Item(item_id, "cancelled").merged_into(known)

    def entries(self, window: Window | None) -> tuple[list[Item], dict[str, list[Item]]]:
        """(singles and masters with something in the window, or all of them; instance records per master id)."""
        instances: dict[str, list[Item]] = {}
        tops = []
        for item in self.items.values():
            if item.recurring_event_id:
                instances.setdefault(item.recurring_event_id, []).append(item)
            elif (
                item.start is not None
                and item.end is not None
                and (window is None or item.recurrence or (item.start < window.end and item.end > window.start))
            ):
                tops.append(item)
        return tops, instances
