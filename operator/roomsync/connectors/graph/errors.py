"""SDK, azure-identity and httpx exceptions translated into the port's errors, so nothing raw leaves a store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from azure.core.exceptions import AzureError, ClientAuthenticationError
from kiota_abstractions.api_error import APIError

from roomsync.connectors.base import (
    AuthenticationFailed,
    BackendError,
    BackendUnavailable,
    BookingRefused,
    InvalidResponse,
    NotFound,
    PreconditionFailed,
)

BACKEND = "graph"
SYNC_STATE_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})


class MailboxAccessDenied(AuthenticationFailed):
    """403 for one mailbox: the app is not scoped to it (RBAC for Applications / access policy)."""


class DeltaExpired(Exception):
    """The delta token is gone (410 / syncStateNotFound): the caller starts a full read."""


def _code(exc: APIError) -> str:
    error = getattr(exc, "error", None)
    return str(getattr(error, "code", "") or "")


def _message(exc: APIError) -> str:
    error = getattr(exc, "error", None)
    return str(getattr(error, "message", "") or exc.message or exc.__class__.__name__)


def translate(exc: BaseException, what: str) -> BaseException:
    """The port error for ``exc`` raised while doing ``what``."""
    if isinstance(exc, BackendError | DeltaExpired):
        return exc
    if isinstance(exc, ClientAuthenticationError):
        text = str(exc.message or exc).splitlines()[0][:300]
        return AuthenticationFailed(f"{what}: token request refused: {text}", backend=BACKEND)
    if isinstance(exc, APIError):
        return by_status(exc.response_status_code or 0, _code(exc), _message(exc), what)
    if isinstance(exc, httpx.TransportError):
        return BackendUnavailable(f"{what}: {exc.__class__.__name__}: {exc}", backend=BACKEND)
    if isinstance(exc, AzureError):
        return BackendUnavailable(f"{what}: {exc}", backend=BACKEND)
    if isinstance(exc, json.JSONDecodeError | ValueError | TypeError | KeyError | AttributeError):
        return InvalidResponse(f"{what}: unreadable answer: {exc.__class__.__name__}: {exc}", backend=BACKEND)
    return exc


def by_status(status: int, code: str, message: str, what: str) -> BaseException:
    """The port error for a Graph error answer (sent alone, or inside a ``$batch``)."""
    detail = f"{what}: {status} {code}: {message}".strip()
    if status == 410 or code.casefold() in SYNC_STATE_CODES:
        return DeltaExpired(detail)
    if status == 401:
        return AuthenticationFailed(detail, backend=BACKEND)
    if status == 403:
        return MailboxAccessDenied(
            detail + " (is the app scoped to this room mailbox? see docs/exchange-online.md)", backend=BACKEND
        )
    if status == 404:
        return NotFound(detail, backend=BACKEND)
    if status in (409, 412):
        # a stale If-Match: Graph documents no status for events; the emulator answers 412, 409 is taken too
        return PreconditionFailed(detail, backend=BACKEND)
    if status in (400, 422):
        return BookingRefused(detail, code=code, backend=BACKEND)
    if status == 429 or status >= 500 or status == 0:
        return BackendUnavailable(detail, backend=BACKEND)
    return InvalidResponse(detail, backend=BACKEND)


def from_answer(status: int, body: object, what: str) -> BaseException:
    """The port error for a failed request inside a ``$batch`` (its body is Graph's ``{"error": {...}}``)."""
    error = body.get("error") if isinstance(body, dict) else None
    code = str(error.get("code") or "") if isinstance(error, dict) else ""
    message = str(error.get("message") or "") if isinstance(error, dict) else ""
    return by_status(status, code, message or f"HTTP {status}", what)


@asynccontextmanager
async def graph_errors(what: str) -> AsyncIterator[None]:
    try:
        yield
    except Exception as exc:
        translated = translate(exc, what)
        if translated is exc:
            raise
        raise translated from exc
