"""Every request the connector sends, through the caldav library's async client, one calendar collection at a time.

The library builds the requests (its XML elements, its sync-collection paging with the silent fallback switched
off) and does authentication; this module chooses which requests, sends the preconditions, and counts each HTTP
attempt per room and operation in the Connection's :class:`~roomsync.connectors.base.RequestCounts` - including the
ones the library makes on its own (auth negotiation, truncated sync pages).

The library's own write helpers are not used: ``add_event(no_overwrite=True)`` searches by UID before its PUT,
``delete()`` sends no ``If-Match``, and ``delete()`` on an expanded occurrence removes the whole series. Writes here
are one PUT or DELETE with ``If-None-Match: *`` or ``If-Match: <etag>``.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from caldav.aio import AsyncDAVClient
from caldav.collection import Calendar
from caldav.elements import cdav, dav
from caldav.lib import error as dav_error
from lxml import etree

from roomsync.connectors.base import InvalidResponse, RequestCounts
from roomsync.connectors.caldav.errors import (
    BACKEND,
    NO_UID_CONFLICT,
    SUPPORTED_REPORT,
    VALID_SYNC_TOKEN,
    SyncTokenInvalid,
    SyncUnsupported,
    UidTaken,
    caldav_errors,
    status_error,
)

#: (room, operation) of the request being sent, for the counters.
current_call: contextvars.ContextVar[tuple[str, str]] = contextvars.ContextVar("caldav_call", default=("", "other"))
CALENDAR_TIMEZONE = "{urn:ietf:params:xml:ns:caldav}calendar-timezone"
SYNC_COLLECTION = "{DAV:}sync-collection"
ICAL_TYPE = "text/calendar; charset=utf-8"
#: statuses with which a server says it does not do a REPORT at all (RFC 3253 supported-report is a 403)
REPORT_UNSUPPORTED = frozenset({400, 405, 415, 422, 501})


class CountingDAVClient(AsyncDAVClient):
    """The library's async client with every HTTP attempt counted and the Connection's concurrency limit held."""

    def __init__(self, *args: Any, requests: RequestCounts, max_concurrent: int, **kwargs: Any) -> None:
        self.requests = requests
        self._slots = asyncio.Semaphore(max_concurrent)
        super().__init__(*args, **kwargs)

    def _create_session(self) -> None:
        super()._create_session()
        send: Callable[..., Any] = self.session.request

        async def counted(*args: Any, **kwargs: Any) -> Any:
            room, operation = current_call.get()
            async with self._slots:
                try:
                    response = await send(*args, **kwargs)
                except Exception:
                    self.requests.add(room, operation, "error")
                    raise
            self.requests.add(room, operation, response.status_code)
            return response

        self.session.request = counted


def path_of(href: str) -> str:
    """An href as the cache keys it: the decoded path (servers differ in how they quote ``@``)."""
    return unquote(urlsplit(href).path)


@dataclass(frozen=True)
class Entry:
    """One member of a collection as a REPORT or GET returned it."""

    href: str
    etag: str | None
    text: str | None = None


@dataclass(frozen=True)
class CollectionInfo:
    sync_token: str | None
    supports_sync: bool
    time_zone_ical: str | None
    name: str = ""


@dataclass
class Changes:
    token: str
    changed: dict[str, str | None] = field(default_factory=dict)  # href -> etag
    deleted: set[str] = field(default_factory=set)


def _xml(element: Any) -> str:
    return str(etree.tostring(element.xmlelement(), encoding="utf-8", xml_declaration=True).decode("utf-8"))


def _node(parent: Any, *children: Any) -> Any:
    """One of the library's XML elements with children (its type hints allow only children of the parent's class)."""
    for child in children:
        parent.append(child)
    return parent


def _calendar_query(wanted: list[Any], condition: Any) -> Any:
    """A calendar-query for VEVENTs matching ``condition`` (a time-range or a prop-filter)."""
    events = _node(cdav.CompFilter("VEVENT"), condition)
    return _node(
        cdav.CalendarQuery(),
        _node(dav.Prop(), *wanted),
        _node(cdav.Filter(), _node(cdav.CompFilter("VCALENDAR"), events)),
    )


def _text(response: Any) -> str:
    raw = response._raw
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")


class CalendarCalls:
    """The requests for one calendar collection (``url`` ends with ``/``); ``room`` labels them in the counters."""

    def __init__(self, dav: CountingDAVClient, url: str, room: str) -> None:
        self.dav = dav
        self.url = url
        self.room = room
        self.calendar = Calendar(client=dav, url=url)  # type: ignore[arg-type]  # dual-mode: async with this client

    @property
    def where(self) -> str:
        """How error messages name this calendar: the room and the collection's URL."""
        return f"room {self.room}, {self.url}"

    def href_url(self, href: str) -> str:
        return urljoin(self.url, quote(path_of(href)))

    def member_url(self, name: str) -> str:
        return self.url + quote(name, safe="")

    async def _send(self, operation: str, what: str, call: Callable[[], Any]) -> Any:
        token = current_call.set((self.room, operation))
        try:
            async with caldav_errors(f"{what} ({self.where})"):
                return await call()
        finally:
            current_call.reset(token)

    def _check(self, response: Any, what: str, ok: Sequence[int] = (200, 207)) -> None:
        if response.status not in ok:
            body = _text(response)
            raise status_error(response.status, f"{what} ({self.where})", body, dav_error.parse_preconditions(body))

    # -- reads ---------------------------------------------------------------------------------------------------------
    async def info(self) -> CollectionInfo:
        """The collection's sync token, whether it offers sync-collection, and its calendar-timezone."""
        props = ["{DAV:}sync-token", "{DAV:}supported-report-set", CALENDAR_TIMEZONE, "{DAV:}displayname"]
        response = await self._send(
            "PROPFIND", "read calendar properties", lambda: self.dav.propfind(self.url, props=props, depth=0)
        )
        self._check(response, "read calendar properties")
        found = {}
        for result in response.results or []:
            if path_of(result.href).rstrip("/") == path_of(self.url).rstrip("/"):
                found = result.properties
        if not found and response.results:
            found = response.results[0].properties
        reports = found.get("{DAV:}supported-report-set") or []
        token = found.get("{DAV:}sync-token")
        return CollectionInfo(
            sync_token=str(token) if token else None,
            supports_sync=bool(token) and SYNC_COLLECTION in [str(r) for r in reports],
            time_zone_ical=str(found.get(CALENDAR_TIMEZONE) or "") or None,
            name=str(found.get("{DAV:}displayname") or ""),
        )

    async def query(self, start: datetime, end: datetime, *, data: bool) -> list[Entry]:
        """calendar-query: every event with an instance in ``[start, end)`` (the server expands series)."""
        wanted = [dav.GetEtag(), cdav.CalendarData()] if data else [dav.GetEtag()]
        body = _calendar_query(wanted, cdav.TimeRange(start, end))
        return await self._report("REPORT calendar-query", "query the window", _xml(body))

    async def find_uid(self, uid: str) -> list[Entry]:
        match = _node(cdav.PropFilter("UID"), cdav.TextMatch(uid, collation="i;octet"))
        body = _calendar_query([dav.GetEtag(), cdav.CalendarData()], match)
        return await self._report("REPORT calendar-query", f"find UID {uid}", _xml(body))

    async def multiget(self, hrefs: Sequence[str]) -> list[Entry]:
        """calendar-multiget: the data of these members (gone ones are left out)."""
        if not hrefs:
            return []
        prop = _node(dav.Prop(), dav.GetEtag(), cdav.CalendarData())
        body = _node(cdav.CalendarMultiGet(), prop, *(dav.Href(value=quote(path_of(h))) for h in hrefs))
        return await self._report("REPORT calendar-multiget", "fetch changed events", _xml(body), depth=None)

    async def _report(self, operation: str, what: str, body: str, depth: int | None = 1) -> list[Entry]:
        response = await self._send(operation, what, lambda: self.dav.report(self.url, body, depth=depth))
        self._check(response, what)
        try:
            results = response.parse_calendar_query()
        except (ValueError, etree.XMLSyntaxError, dav_error.DAVError) as exc:
            raise InvalidResponse(f"{what} ({self.where}): unreadable multistatus: {exc}", backend=BACKEND) from exc
        base = path_of(self.url).rstrip("/")
        return [
            Entry(path_of(r.href), r.etag, r.calendar_data)
            for r in results
            if r.status == 200 and path_of(r.href).rstrip("/") != base
        ]

    async def changes(self, token: str) -> Changes:
        """sync-collection since ``token`` with the library's full-listing fallback off (RFC 6578)."""

        async def call() -> Any:
            try:
                pending: Any = self.calendar.get_objects_by_sync_token(token, load_objects=False, disable_fallback=True)
                return await pending
            except dav_error.DAVError as exc:
                if VALID_SYNC_TOKEN in exc.preconditions or exc.status == 412:
                    raise SyncTokenInvalid(str(exc)) from exc
                if SUPPORTED_REPORT in exc.preconditions or exc.status in REPORT_UNSUPPORTED:
                    raise SyncUnsupported(f"HTTP {exc.status}") from exc
                if exc.status is not None and exc.status >= 500:  # CCS and Xandikos: 500 for a token they cannot read
                    raise SyncTokenInvalid(f"HTTP {exc.status} for the sync token; reading everything") from exc
                raise

        collection = await self._send("REPORT sync-collection", "read changes", call)
        if getattr(collection, "truncated", False):
            raise InvalidResponse(f"sync-collection of {self.url} stayed truncated", backend=BACKEND)
        result = Changes(token=str(collection.sync_token))
        deleted = {path_of(str(u)) for u in collection.deleted_urls or ()}
        for obj in collection.objects:
            href = path_of(str(obj.url))
            if href in deleted or href.rstrip("/") == path_of(self.url).rstrip("/"):
                continue
            etag = obj.props.get("{DAV:}getetag")
            result.changed[href] = str(etag) if etag else None
        result.deleted = deleted
        return result

    async def get(self, href: str) -> Entry | None:
        response = await self._send("GET", f"read {path_of(href)}", lambda: self.dav.request(self.href_url(href)))
        if response.status == 404:
            return None
        self._check(response, f"read {path_of(href)}", ok=(200,))
        return Entry(path_of(href), response.headers.get("ETag"), _text(response))

    # -- writes --------------------------------------------------------------------------------------------------------
    async def put(self, href: str, text: str, *, etag: str | None = None, create: bool = False) -> str | None:
        """PUT with ``If-None-Match: *`` (create) or ``If-Match`` (update); the new ETag when the server gives one
        (RFC 4791 5.3.4 lets it keep quiet when it changed the data)."""
        headers = {"Content-Type": ICAL_TYPE}
        if create:
            headers["If-None-Match"] = "*"
        elif etag:
            headers["If-Match"] = etag
        else:
            raise ValueError(f"refusing a blind overwrite of {href}: no ETag to send as If-Match")
        what = f"write {path_of(href)}"
        response = await self._send("PUT", what, lambda: self.dav.put(self.href_url(href), text, headers))
        if response.status in (200, 201, 204):
            tag = response.headers.get("ETag")
            return str(tag) if tag and not str(tag).startswith("W/") else None
        body = _text(response)
        preconditions = dav_error.parse_preconditions(body)
        if response.status == 409 and create:  # CALDAV:no-uid-conflict; SOGo answers a bare 409
            named = " (CALDAV:no-uid-conflict)" if NO_UID_CONFLICT in preconditions else ""
            raise UidTaken(f"{what} ({self.where}): 409{named}: the UID may be used by another event", backend=BACKEND)
        raise status_error(response.status, f"{what} ({self.where})", body, preconditions)

    async def delete(self, href: str, etag: str | None) -> None:
        """DELETE with ``If-Match``; an item already gone is fine."""
        if not etag:
            raise ValueError(f"refusing a blind delete of {href}: no ETag to send as If-Match")
        headers = {"If-Match": etag}
        what = f"delete {path_of(href)}"
        response = await self._send("DELETE", what, lambda: self.dav.delete(self.href_url(href), headers))
        if response.status in (200, 204, 404):
            return
        self._check(response, what, ok=(200, 204))
