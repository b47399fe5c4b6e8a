"""POSTing to the Planon REST API and turning every answer into records or one of the port's errors.

Mapping: connection errors, time-outs, 429 and 5xx -> ``BackendUnavailable`` naming the URL and the reason (reads
are retried a bounded number of times with tenacity, waiting what a ``Retry-After`` asks (see
:mod:`roomsync.connectors.retry`), also after a garbled answer; writes never: a lost answer is resolved by the
idempotent create); 401/403 -> ``AuthenticationFailed`` naming the credential and what to check (after one retry
with a fresh OIDC token); 404 ->
:class:`PlanonConfigurationError` (a definition, BOM or state name that the tenant does not expose); 422 with
``errors`` -> ``BookingRefused`` with the ``PN_`` code; warnings -> answered only when listed in ``safeWarnings``,
otherwise :class:`UnansweredWarning`; other 4xx -> :class:`PlanonRequestRejected`; a body that is not the documented
JSON -> ``InvalidResponse``. Credentials and request bodies are never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Mapping
from typing import Any, Final

import aiohttp
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from roomsync.connectors.base import (
    AuthenticationFailed,
    BackendError,
    BackendUnavailable,
    BookingRefused,
    InvalidResponse,
    RequestCounts,
)
from roomsync.connectors.network import proxy_for, unreachable
from roomsync.connectors.planon.auth import Auth, TokenEndpointUnavailable
from roomsync.connectors.planon.settings import PlanonSettings
from roomsync.connectors.retry import parse_retry_after, stop_when_retry_after_exceeds, wait_retry_after

log = logging.getLogger("roomsync.connectors.planon")
BACKEND: Final = "planon"
Record = dict[str, Any]
#: A read whose answer asks to come back later than this gives up; the next cycle tries again.
MAX_RETRY_AFTER: Final = 60.0


class PlanonBusy(BackendUnavailable):
    """Planon answered 429 or 5xx; ``retry_after`` is what its ``Retry-After`` header asked for, if anything."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, backend=BACKEND)
        self.retry_after = retry_after


class PlanonConfigurationError(BackendError):
    """Planon does not know a definition, BOM or state name from ``spec.planon`` (HTTP 404)."""

    reason = "ConfigurationError"


class PlanonRequestRejected(BackendError):
    """Planon rejected the request itself (HTTP 400: unknown or read-only field, wrong type, bad filter)."""

    reason = "RequestRejected"


class UnansweredWarning(BookingRefused):
    """Planon asks to confirm a warning RoomSync does not know to be safe; the action was not done."""

    reason = "UnansweredWarning"


class PlanonHttp:
    """The HTTP side of a Planon Client.

    ``requests`` counts every attempt by room (the reservation unit's code when a request concerns one unit, else
    ``""``), operation (the path below the base URL: ``read/<definition>``, ``execute/<definition>/BomAdd``,
    ``changeState/<definition>/<state>`` ...) and status (the HTTP status, or ``timeout`` / ``connect-error``).
    """

    def __init__(self, settings: PlanonSettings, auth: Auth) -> None:
        self.settings = settings
        self.auth = auth
        self.requests = RequestCounts()
        self._session: aiohttp.ClientSession | None = None
        self._proxy: str | None = None
        self._limit = asyncio.Semaphore(settings.max_concurrent_requests)

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            context = ssl.create_default_context()
            if self.settings.ca_bundle:
                context.load_verify_locations(cadata=self.settings.ca_bundle)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=context, limit=self.settings.max_concurrent_requests * 2),
                timeout=aiohttp.ClientTimeout(total=self.settings.request_timeout_seconds),
                json_serialize=json.dumps,
            )
            self._proxy = proxy_for(self.settings.url)
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- operations ------------------------------------------------------------------------------------------------
    async def read(self, definition: str, filter_: Mapping[str, Any] | None, *, room: str = "") -> list[Record]:
        body = {"filter": dict(filter_)} if filter_ else {}
        retrying = AsyncRetrying(
            retry=retry_if_exception_type((BackendUnavailable, InvalidResponse))
            & retry_if_not_exception_type(TokenEndpointUnavailable),
            stop=(
                stop_after_attempt(max(1, self.settings.read_attempts)) | stop_when_retry_after_exceeds(MAX_RETRY_AFTER)
            ),
            wait=wait_retry_after(wait_exponential(multiplier=0.1, max=2.0)),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self.post(f"read/{definition}", body, room=room)
        raise AssertionError("unreachable")  # pragma: no cover

    async def add(self, definition: str, values: Mapping[str, Any], *, room: str = "") -> Record:
        records = await self.post(f"execute/{definition}/BomAdd", {"values": dict(values)}, room=room)
        if len(records) != 1:
            raise InvalidResponse(f"BomAdd on {definition} answered {len(records)} records", backend=BACKEND)
        return records[0]

    async def update(
        self, definition: str, filter_: Mapping[str, Any], values: Mapping[str, Any], *, room: str = ""
    ) -> list[Record]:
        """The records updated (Planon answers with them): fewer than the filter addressed means some were not."""
        return await self.post(f"update/{definition}", {"filter": dict(filter_), "values": dict(values)}, room=room)

    async def change_state(
        self, definition: str, state: str, filter_: Mapping[str, Any], *, room: str = ""
    ) -> list[Record]:
        return await self.post(f"changeState/{definition}/{state}", {"filter": dict(filter_)}, room=room)

    async def delete(self, definition: str, filter_: Mapping[str, Any], *, room: str = "") -> list[Record]:
        return await self.post(f"delete/{definition}", {"filter": dict(filter_)}, room=room)

    # -- one POST, with warnings answered and a fresh token on 401 ----------------------------------------------------
    async def post(self, path: str, body: Mapping[str, Any], *, room: str = "") -> list[Record]:
        payload = dict(body)
        fresh_token_tried = False
        answered: set[str] = set()
        while True:
            status, parsed, retry_after = await self._send(path, payload, room)
            if status in (401, 403):
                if not fresh_token_tried and self.auth.invalidate():
                    fresh_token_tried = True
                    continue
                answer = f"HTTP {status} {_describe(parsed)}".strip()
                raise AuthenticationFailed(
                    self.auth.refused(answer, path) if status == 401 else self.auth.forbidden(answer, path),
                    backend=BACKEND,
                )
            warnings = _warnings(parsed)
            if warnings and not _records_present(parsed):
                codes = [code for code, _ in warnings]
                unsafe = [(c, d) for c, d in warnings if c not in self.settings.safe_warnings]
                if unsafe:
                    code, text = unsafe[0]
                    raise UnansweredWarning(
                        f"Planon asks to confirm warning {code} ({text}); RoomSync answers only the warnings in "
                        "spec.planon.safeWarnings",
                        code=code,
                        backend=BACKEND,
                    )
                if set(codes) <= answered:
                    raise InvalidResponse(f"Planon repeats answered warnings {codes} on {path}", backend=BACKEND)
                answered |= set(codes)
                payload["answers"] = {"warnings": [{"code": c} for c in sorted(answered)]}
                continue
            return self._result(path, status, parsed, retry_after)

    async def _send(self, path: str, body: Mapping[str, Any], room: str) -> tuple[int, Any, float | None]:
        url = f"{self.settings.url}/{path}"
        async with self._limit:
            header = await self.auth.header(self.session())
            started = time.monotonic()
            try:
                request = self.session().post(url, json=body, headers={"Authorization": header}, proxy=self._proxy)
                async with request as resp:
                    status, text = resp.status, await resp.text()
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                self.requests.add(room, path, status)
            except (TimeoutError, aiohttp.ClientError) as exc:
                self.requests.add(room, path, "timeout" if isinstance(exc, TimeoutError) else "connect-error")
                log.info("planon POST %s failed: %s", path, type(exc).__name__)
                raise BackendUnavailable(
                    f"{unreachable('Planon', self.settings.url, exc)} ({path})", backend=BACKEND
                ) from None
        log.debug("planon POST %s -> %s in %.0f ms", path, status, (time.monotonic() - started) * 1000)
        try:
            parsed = json.loads(text) if text.strip() else None
        except ValueError:
            if status >= 500 or status == 429:
                raise PlanonBusy(f"Planon answered HTTP {status} on {path}", retry_after=retry_after) from None
            raise InvalidResponse(
                f"Planon answered HTTP {status} with a body that is not JSON on {path}", backend=BACKEND
            ) from None
        return status, parsed, retry_after

    def _result(self, path: str, status: int, parsed: Any, retry_after: float | None = None) -> list[Record]:
        if status == 429 or status >= 500:
            raise PlanonBusy(f"Planon answered HTTP {status} on {path}: {_describe(parsed)}", retry_after=retry_after)
        if status == 404:
            raise PlanonConfigurationError(
                f"Planon does not know {path} (HTTP 404: {_describe(parsed)}); check the names in spec.planon",
                backend=BACKEND,
            )
        if status == 422:
            code, text = _first_error(parsed)
            raise BookingRefused(text, code=code, backend=BACKEND)
        if status >= 400:
            raise PlanonRequestRejected(f"Planon rejected {path} (HTTP {status}): {_describe(parsed)}", backend=BACKEND)
        if not isinstance(parsed, dict):
            raise InvalidResponse(f"Planon answered {path} without a JSON object", backend=BACKEND)
        if parsed.get("errors"):
            code, text = _first_error(parsed)
            raise BookingRefused(text, code=code, backend=BACKEND)
        records = parsed.get("records")
        if records is None:
            return []
        if not isinstance(records, list):
            raise InvalidResponse(f"Planon answered {path} with records that are not a list", backend=BACKEND)
        return records


def _records_present(parsed: Any) -> bool:
    return isinstance(parsed, dict) and bool(parsed.get("records"))


def _warnings(parsed: Any) -> list[tuple[str, str]]:
    if not isinstance(parsed, dict) or not isinstance(parsed.get("warnings"), list):
        return []
    return [
        (str(w.get("code", "")), str(w.get("description", "")))
        for w in parsed["warnings"]
        if isinstance(w, dict) and w.get("code")
    ]


def _first_error(parsed: Any) -> tuple[str, str]:
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("code", "")), str(errors[0].get("description", "Planon refused the request"))
    return "", "Planon refused the request"


def _describe(parsed: Any) -> str:
    code, text = _first_error(parsed)
    return f"{code} {text}".strip()
