"""The shared Planon client of one Connection: HTTP session, credentials, master-data cache, request counters."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from roomsync.connectors.base import (
    Capabilities,
    CreateIdempotency,
    RequestCounts,
    RoomInfo,
    SecretLookup,
    StoreOptions,
    Throttling,
)
from roomsync.connectors.planon.auth import AccessKeyAuth, Auth, OidcAuth
from roomsync.connectors.planon.directory import Directory
from roomsync.connectors.planon.http import PlanonHttp
from roomsync.connectors.planon.settings import FieldLengths, PlanonSettings
from roomsync.connectors.planon.store import PlanonStore
from roomsync.connectors.planon.texts import field_limits
from roomsync.model import RoomPair


def _now() -> datetime:
    return datetime.now(UTC)


def capabilities(lengths: FieldLengths, *, change_timestamp: bool) -> Capabilities:
    """Planon answers no meeting request (the calendar side does, with Planon's decision), holds a series as one
    reservation per occurrence, reads incrementally and checks a write's precondition only when a change timestamp
    is configured (and then only as well as the timestamp allows), and stores subjects and attendees up to the
    tenant's field lengths."""
    return Capabilities(
        answers_requests=False,
        incremental_reads=change_timestamp,
        native_series=False,
        create_idempotency=CreateIdempotency.LOOKUP_BY_LINK,
        throttling=Throttling.PER_TENANT,
        room_discovery=True,
        strict_preconditions=False,
        limits=field_limits(lengths.description, lengths.attendees),
    )


#: What the backend can do at its best (a change timestamp configured) with the default field lengths; a client's own
#: ``capabilities`` follow its settings.
CAPABILITIES = capabilities(FieldLengths(), change_timestamp=True)


class PlanonClient:
    backend = "planon"

    def __init__(self, settings: PlanonSettings, auth: Auth, *, clock: Callable[[], datetime] = _now) -> None:
        self.settings = settings
        self.auth = auth
        self.capabilities = capabilities(
            settings.field_lengths, change_timestamp=bool(settings.reservation_fields.changed_at)
        )
        self.http = PlanonHttp(settings, auth)
        self.directory = Directory(self.http, settings)
        self.clock = clock

    @property
    def requests(self) -> RequestCounts:
        """Requests sent, by unit code (or ``""``), path below the base URL and status (see :class:`PlanonHttp`)."""
        return self.http.requests

    def store(self, rooms: Sequence[RoomPair], options: StoreOptions) -> PlanonStore:
        return PlanonStore(self, rooms, options)

    async def rooms(self) -> list[RoomInfo]:
        """Every reservation unit the API user can read, with its property as the building and its time zone."""
        return await self.directory.all_units()

    async def aclose(self) -> None:
        await self.http.aclose()

    def __repr__(self) -> str:
        return f"PlanonClient(url={self.settings.url!r}, auth={self.auth!r})"


def auth_from_spec(spec: Mapping[str, Any], secrets: SecretLookup, *, namespace: str = "default") -> Auth:
    auth = spec.get("auth") or {}

    def source(ref: Mapping[str, str]) -> str:
        return f"Secret {namespace}/{ref['name']}, key {ref['key']}"

    if "accessKey" in auth:
        ref = auth["accessKey"]["secretRef"]
        return AccessKeyAuth(secrets(ref["name"], ref["key"]), source=source(ref))
    if "oidc" in auth:
        oidc = auth["oidc"]
        ref = oidc["clientSecret"]["secretRef"]
        return OidcAuth(
            oidc["tokenUrl"], oidc["clientId"], secrets(ref["name"], ref["key"]), oidc.get("scope"), source=source(ref)
        )
    raise ValueError("spec.planon.auth needs exactly one of accessKey or oidc")


def open_client(spec: Mapping[str, Any], secrets: SecretLookup, *, namespace: str = "default") -> PlanonClient:
    """The registry entry point: ``spec`` is a Connection's ``spec.planon``; secrets are read once, here."""
    return PlanonClient(PlanonSettings.from_spec(spec), auth_from_spec(spec, secrets, namespace=namespace))
