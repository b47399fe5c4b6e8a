"""The shared Planon client of one Connection: HTTP session, credentials, master-data cache, request counters."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from roomsync.connectors.base import Capabilities, CreateIdempotency, SecretLookup, StoreOptions, Throttling
from roomsync.connectors.planon.auth import AccessKeyAuth, Auth, OidcAuth
from roomsync.connectors.planon.directory import Directory
from roomsync.connectors.planon.http import PlanonHttp
from roomsync.connectors.planon.settings import PlanonSettings
from roomsync.connectors.planon.store import PlanonStore
from roomsync.model import RoomPair


def _now() -> datetime:
    return datetime.now(UTC)


#: Planon answers no meeting request (the calendar side does, with Planon's decision), holds a series as one
#: reservation per occurrence, and checks a write's precondition only as well as its change time allows.
CAPABILITIES = Capabilities(
    answers_requests=False,
    incremental_reads=True,
    native_series=False,
    create_idempotency=CreateIdempotency.LOOKUP_BY_LINK,
    throttling=Throttling.PER_TENANT,
    room_discovery=False,
    strict_preconditions=False,
)


class PlanonClient:
    backend = "planon"
    capabilities = CAPABILITIES

    def __init__(self, settings: PlanonSettings, auth: Auth, *, clock: Callable[[], datetime] = _now) -> None:
        self.settings = settings
        self.auth = auth
        self.http = PlanonHttp(settings, auth)
        self.directory = Directory(self.http, settings)
        self.clock = clock

    @property
    def requests(self) -> Counter[str]:
        """Requests sent, by path relative to the base URL (``read/UsrReservationMeetingRoom``, ...)."""
        return self.http.requests

    def store(self, rooms: Sequence[RoomPair], options: StoreOptions) -> PlanonStore:
        return PlanonStore(self, rooms, options)

    async def aclose(self) -> None:
        await self.http.aclose()

    def __repr__(self) -> str:
        return f"PlanonClient(url={self.settings.url!r}, auth={self.auth!r})"


def auth_from_spec(spec: Mapping[str, Any], secrets: SecretLookup) -> Auth:
    auth = spec.get("auth") or {}
    if "accessKey" in auth:
        ref = auth["accessKey"]["secretRef"]
        return AccessKeyAuth(secrets(ref["name"], ref["key"]))
    if "oidc" in auth:
        oidc = auth["oidc"]
        ref = oidc["clientSecret"]["secretRef"]
        return OidcAuth(oidc["tokenUrl"], oidc["clientId"], secrets(ref["name"], ref["key"]), oidc.get("scope"))
    raise ValueError("spec.planon.auth needs exactly one of accessKey or oidc")


def open_client(spec: Mapping[str, Any], secrets: SecretLookup, *, namespace: str = "default") -> PlanonClient:
    """The registry entry point: ``spec`` is a Connection's ``spec.planon``; secrets are read once, here."""
    return PlanonClient(PlanonSettings.from_spec(spec), auth_from_spec(spec, secrets))
