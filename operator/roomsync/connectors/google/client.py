"""The shared Google client of one Connection: service-account credentials with domain-wide delegation, the
Calendar and Directory services built from the discovery documents bundled in google-api-python-client (no network
at import or build time), one request budget for the delegated user, and each room calendar's sync state.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import httplib2
from google.oauth2 import service_account
from googleapiclient.discovery import build

from roomsync.connectors.base import (
    Capabilities,
    CreateIdempotency,
    RequestCounts,
    RoomInfo,
    SecretLookup,
    StoreOptions,
    Throttling,
)
from roomsync.connectors.google.calendar import CalendarState
from roomsync.connectors.google.channels import GoogleChannels
from roomsync.connectors.google.settings import CALENDAR_SCOPE, DIRECTORY_SCOPE, GoogleSettings, read_settings
from roomsync.connectors.google.transport import Caller
from roomsync.model import FieldLimits, RoomPair

#: Google Workspace rooms: a room's answer can be written when Planon leads (attendeesOmitted on its copy), rooms
#: decide by themselves otherwise (auto-accept), reads are incremental (syncToken), a series is one master, creates
#: are idempotent by a client-supplied event id, and every room shares the delegated user's budget.
CAPABILITIES = Capabilities(
    answers_requests=True,
    room_agent=True,
    incremental_reads=True,
    native_series=True,
    create_idempotency=CreateIdempotency.CLIENT_ID,
    throttling=Throttling.PER_ACCOUNT,
    room_discovery=True,
    strict_preconditions=True,
    change_notifications=True,
    # the people property is cut into at most 24 values of 1,024 characters (Google truncates longer ones)
    limits=FieldLimits(attendees=20_000),
)
#: The bundled discovery documents: a build never fetches one over the network.
_BUILD: dict[str, Any] = {"static_discovery": True, "cache_discovery": False}


@functools.cache
def service(name: str, version: str, endpoint: str) -> Any:
    """A service built from the bundled discovery document, once per endpoint and process (building one parses a
    large document; requests made from it always get their transport at ``execute``)."""
    return build(name, version, http=httplib2.Http(), client_options={"api_endpoint": endpoint}, **_BUILD)


def credentials(settings: GoogleSettings, scope: str, subject: str) -> Any:
    info = dict(settings.key_info)
    if settings.token_uri:
        info["token_uri"] = settings.token_uri
    base = service_account.Credentials.from_service_account_info(info, scopes=[scope])  # type: ignore[no-untyped-call]
    return base.with_subject(subject)


class GoogleClient:
    capabilities = CAPABILITIES
    backend = "google"

    def __init__(self, settings: GoogleSettings, *, namespace: str = "default") -> None:
        self.settings = settings
        self.namespace = namespace
        self.requests = RequestCounts()
        self.caller = self._caller(credentials(settings, CALENDAR_SCOPE, settings.subject), settings.max_concurrent)
        self.calendar_service = service("calendar", "v3", settings.calendar_endpoint)
        self._calendars: dict[str, CalendarState] = {}
        self._directory: tuple[Caller, Any] | None = None
        self.push = GoogleChannels(self)

    def _caller(self, creds: Any, max_concurrent: int) -> Caller:
        s = self.settings
        return Caller(
            creds,
            self.requests,
            max_concurrent=max_concurrent,
            per_calendar=s.max_concurrent_per_calendar,
            per_minute=s.requests_per_minute,
            max_attempts=s.max_attempts,
            backoff_base=s.backoff_base,
            max_backoff=s.max_backoff,
            timeout=s.request_timeout,
            token_uri=s.token_uri or str(s.key_info.get("token_uri", "")),
        )

    def calendar_state(self, calendar: str) -> CalendarState:
        key = calendar.casefold()
        state = self._calendars.get(key)
        if state is None:
            state = self._calendars[key] = CalendarState(self, key)
        return state

    def store(self, rooms: Sequence[RoomPair], options: StoreOptions) -> Any:
        from roomsync.connectors.google.store import GoogleStore

        return GoogleStore(self, rooms, options)

    async def rooms(self) -> list[RoomInfo]:
        """Room resources from the Directory API (``resources.calendars``), acting as ``directorySubject``."""
        if self._directory is None:
            caller = self._caller(credentials(self.settings, DIRECTORY_SCOPE, self.settings.directory_subject), 1)
            directory = service("admin", "directory_v1", self.settings.directory_endpoint)
            self._directory = (caller, directory)
        caller, directory = self._directory
        rooms: list[RoomInfo] = []
        token = None
        while True:
            request = (
                directory.resources().calendars().list(customer=self.settings.customer, maxResults=500, pageToken=token)
            )
            answer = await caller.call("", "directory", "resources.calendars.list", request, "list room resources")
            for item in answer.get("items") or []:
                if item.get("resourceCategory", "CONFERENCE_ROOM") != "CONFERENCE_ROOM" or not item.get(
                    "resourceEmail"
                ):
                    continue
                rooms.append(
                    RoomInfo(
                        key=str(item["resourceEmail"]).casefold(),
                        name=str(item.get("resourceName") or item.get("generatedResourceName") or ""),
                        email=str(item["resourceEmail"]).casefold(),
                        capacity=item.get("capacity"),
                        building=str(item.get("buildingId") or ""),
                        floor=str(item.get("floorName") or ""),
                    )
                )
            token = answer.get("nextPageToken")
            if not token:
                return sorted(rooms, key=lambda r: r.key)

    async def aclose(self) -> None:
        self.caller.close()
        if self._directory is not None:
            self._directory[0].close()


def open_client(spec: Mapping[str, Any], secrets: SecretLookup, *, namespace: str = "default") -> GoogleClient:
    """The registry entry point: ``spec`` is a Connection's ``spec.google``."""
    return GoogleClient(read_settings(spec, secrets), namespace=namespace)
