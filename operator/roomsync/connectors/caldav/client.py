"""The shared CalDAV client of one Connection: the caldav library's async client, request counters, room calendars.

Everything RoomSyncs sharing the Connection share lives here: the HTTP session and credentials, the concurrency
limit, the request counters, where each room's calendar is (configured, or discovered once under a principal) and
each calendar's sync token and cache.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from roomsync.connectors.base import (
    BackendError,
    Capabilities,
    CreateIdempotency,
    NotFound,
    RequestCounts,
    RoomInfo,
    SecretLookup,
    StoreOptions,
    Throttling,
)
from roomsync.connectors.caldav.calls import CALENDAR_TIMEZONE, CalendarCalls, CountingDAVClient, current_call
from roomsync.connectors.caldav.errors import BACKEND, caldav_errors, status_error
from roomsync.connectors.caldav.settings import CalDAVSettings, private_tempdir, read_settings
from roomsync.connectors.caldav.state import CalendarState, calendar_zone
from roomsync.model import RoomPair, normalise_email

log = logging.getLogger(__name__)
CALENDAR_HOME_SET = "{urn:ietf:params:xml:ns:caldav}calendar-home-set"
CALENDAR_TYPE = "{urn:ietf:params:xml:ns:caldav}calendar"
#: A room whose calendar discovery did not find is looked for again after this long (a calendar made since).
DISCOVERY_RETRY_SECONDS = 600.0

#: A plain CalDAV server has no room agent (nothing accepts or declines by itself); RoomSync answers for the room by
#: writing its PARTSTAT, so Planon can lead. Reads are incremental (sync-collection), a series is one resource, a
#: create is idempotent by its client-chosen UID and name with If-None-Match, writes carry If-Match. Limits count
#: per account (the service account), and rooms can be listed when a principal is configured for discovery.
CAPABILITIES = Capabilities(
    answers_requests=True,
    room_agent=False,
    incremental_reads=True,
    native_series=True,
    create_idempotency=CreateIdempotency.CLIENT_ID,
    throttling=Throttling.PER_ACCOUNT,
    room_discovery=True,
    strict_preconditions=True,
)


def address_of(collection_url: str, domain: str | None) -> str | None:
    """The room address a discovered calendar stands for: its name when that is an address, else name@domain."""
    name = unquote(urlsplit(collection_url).path.rstrip("/").rsplit("/", 1)[-1])
    for candidate in (name, f"{name}@{domain}" if domain and "@" not in name else ""):
        try:
            return normalise_email(candidate)
        except ValueError:
            continue
    return None


class CalDAVClient:
    backend = BACKEND
    capabilities = CAPABILITIES

    def __init__(self, settings: CalDAVSettings, *, namespace: str = "default") -> None:
        self.settings = settings
        self.namespace = namespace
        self.requests = RequestCounts()
        self._tmp = private_tempdir()
        self.dav = CountingDAVClient(
            url=settings.url,
            username=settings.username,
            password=settings.secret,
            auth_type=settings.auth_kind,
            timeout=settings.request_timeout,
            ssl_verify_cert=settings.verify(self._tmp.name),
            enable_rfc6764=False,
            rate_limit_handle=False,
            requests=self.requests,
            max_concurrent=settings.max_concurrent,
        )
        self._states: dict[str, CalendarState] = {}
        self._discovered: dict[str, RoomInfo] | None = None
        self._discovered_at = 0.0
        self._urls: dict[str, str] = {}
        self._discovery_lock = asyncio.Lock()

    # -- room calendars -----------------------------------------------------------------------------------------------
    async def calendar_url(self, address: str) -> str:
        configured = self.settings.calendar_url(address)
        if configured is not None:
            return configured
        if self.settings.discover:
            await self._discover()
            if (
                address.casefold() not in self._urls
                and time.monotonic() - self._discovered_at > DISCOVERY_RETRY_SECONDS
            ):
                await self._discover(again=True)
            found = self._urls.get(address.casefold())
            if found is not None:
                return found
        where = "spec.caldav.calendars" + (" or under the discovery principal" if self.settings.discover else "")
        raise NotFound(f"room {address} has no calendar in {where}", backend=BACKEND)

    async def state(self, address: str) -> CalendarState:
        url = await self.calendar_url(address)
        state = self._states.get(url)
        if state is None:
            calls = CalendarCalls(self.dav, url, address.casefold())
            state = self._states[url] = CalendarState(calls, default_zone=self.settings.time_zone)
        return state

    async def _discover(self, *, again: bool = False) -> dict[str, RoomInfo]:
        async with self._discovery_lock:
            if self._discovered is None or again:
                self._discovered = await self._list_calendars()
                self._discovered_at = time.monotonic()
            return self._discovered

    async def _list_calendars(self) -> dict[str, RoomInfo]:
        """Calendars in the principal's calendar home; each named by a room address (or its local part)."""
        token = current_call.set(("", "PROPFIND discovery"))
        try:
            async with caldav_errors("discover room calendars"):
                principal = self.settings.principal
                if principal is None:
                    principal = str((await self.dav.get_principal()).url)
                response = await self.dav.propfind(principal, props=[CALENDAR_HOME_SET], depth=0)
                if response.status not in (200, 207):
                    raise status_error(response.status, f"read calendar-home-set of {principal}")
                homes = [getattr(r, "properties", {}).get(CALENDAR_HOME_SET) for r in response.results or []]
                home = next((h for h in homes if h), principal)
                home = urljoin(principal, str(home[0] if isinstance(home, list) else home))
                props = ["{DAV:}resourcetype", "{DAV:}displayname", CALENDAR_TIMEZONE]
                listing = await self.dav.propfind(home, props=props, depth=1)
                if listing.status not in (200, 207):
                    raise status_error(listing.status, f"list calendars in {home}")
        finally:
            current_call.reset(token)
        found: dict[str, RoomInfo] = {}
        for result in listing.results or []:
            properties: dict[str, Any] = getattr(result, "properties", {})
            kinds = properties.get("{DAV:}resourcetype") or []
            if CALENDAR_TYPE not in [str(k) for k in (kinds if isinstance(kinds, list) else [kinds])]:
                continue
            url = urljoin(home, result.href)
            url = url if url.endswith("/") else url + "/"
            address = address_of(url, self.settings.discovery_domain)
            if address is None:
                log.info("calendar %s is named by no room address; not a room calendar", url)
                continue
            name = str(properties.get("{DAV:}displayname") or "")
            zone_name = calendar_zone(str(properties.get(CALENDAR_TIMEZONE) or "") or None)
            found[address] = RoomInfo(key=address, name=name, email=address, time_zone=zone_name)
            self._urls[address] = url
        return found

    async def rooms(self) -> list[RoomInfo]:
        """The room calendars these credentials can see: the configured ones, and those discovered."""
        found: dict[str, RoomInfo] = {}
        if self.settings.discover:
            found.update(await self._discover(again=True))
        for address in self.settings.calendars:
            if address not in found:
                try:
                    info = await (await self.state(address)).calls.info()
                except BackendError as error:
                    log.warning("room calendar of %s unreadable: %s", address, error)
                    found[address] = RoomInfo(key=address, email=address)
                    continue
                found[address] = RoomInfo(
                    key=address, name=info.name, email=address, time_zone=calendar_zone(info.time_zone_ical)
                )
        return sorted(found.values(), key=lambda r: r.key)

    # -- the port -----------------------------------------------------------------------------------------------------
    def store(self, rooms: Sequence[RoomPair], options: StoreOptions) -> Any:
        from roomsync.connectors.caldav.store import CalDAVStore

        return CalDAVStore(self, rooms, options)

    async def aclose(self) -> None:
        await self.dav.close()
        self._tmp.cleanup()


def open_client(spec: Mapping[str, Any], secrets: SecretLookup, *, namespace: str = "default") -> CalDAVClient:
    """The registry entry point: ``spec`` is a Connection's ``spec.caldav``; secrets are read once, here."""
    return CalDAVClient(read_settings(spec, secrets), namespace=namespace)
