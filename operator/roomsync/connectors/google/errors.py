"""google-api-python-client, google-auth and socket exceptions translated into the port's errors.

The error body Google sends (``{"error": {"errors": [{"reason"...}], "code", "message"}}``) is read through
``HttpError.error_details``; the first ``reason`` decides, as the errors guide says.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import httplib2
from google.auth.exceptions import GoogleAuthError, RefreshError, TransportError
from googleapiclient.errors import HttpError

from roomsync.connectors.base import (
    AuthenticationFailed,
    BackendError,
    BackendUnavailable,
    BookingRefused,
    InvalidResponse,
    NotFound,
    PreconditionFailed,
)
from roomsync.connectors.network import reason as network_reason
from roomsync.connectors.network import unreachable

BACKEND = "google"
THROTTLED = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class CalendarAccessDenied(AuthenticationFailed):
    """403 for one calendar: the booking user may not change events there (or a scope is missing)."""


class SyncTokenExpired(Exception):
    """410 on a syncToken list: the caller does a full list (which deletes nothing on its own)."""


class Duplicate(BackendError):
    """409 ``duplicate``: the client-supplied event id exists, i.e. an earlier attempt of this create succeeded."""

    reason = "Duplicate"


def reason_of(exc: HttpError) -> str:
    details = exc.error_details if isinstance(exc.error_details, list) else []
    for detail in details:
        if isinstance(detail, dict) and detail.get("reason"):
            return str(detail["reason"])
    return ""


def is_retryable(exc: BaseException) -> bool:
    """Throttling (403 rate limits, 429), 5xx and dropped connections. Every request this connector sends is
    idempotent (reads, writes with If-Match, inserts with a client-supplied id), so all of them may be repeated."""
    if isinstance(exc, HttpError):
        status = exc.resp.status
        return status in RETRYABLE_STATUS or (status == 403 and reason_of(exc) in THROTTLED)
    return isinstance(exc, OSError | httplib2.HttpLib2Error | TransportError) and not isinstance(exc, RefreshError)


def is_throttling(exc: BaseException) -> bool:
    return isinstance(exc, HttpError) and (
        exc.resp.status == 429 or (exc.resp.status == 403 and reason_of(exc) in THROTTLED)
    )


def translate(exc: BaseException, what: str, url: str = "") -> BaseException:
    """The port error for ``exc`` raised while doing ``what`` (``what`` names the calendar) at ``url`` (the origin or
    the token endpoint, named when it cannot be reached)."""
    if isinstance(exc, BackendError | SyncTokenExpired):
        return exc
    if isinstance(exc, RefreshError):
        return AuthenticationFailed(f"{what}: token request refused: {str(exc)[:300]}", backend=BACKEND)
    if isinstance(exc, HttpError):
        status, reason = exc.resp.status, reason_of(exc)
        detail = f"{what}: {status} {reason}: {exc.reason}".strip()
        if status == 410 and reason in ("fullSyncRequired", "updatedMinTooLongAgo"):
            return SyncTokenExpired(detail)
        if status == 410:
            return NotFound(detail, backend=BACKEND)
        if status == 401:
            return AuthenticationFailed(detail, backend=BACKEND)
        if status == 403 and reason in THROTTLED | {"quotaExceeded"}:
            return BackendUnavailable(detail, backend=BACKEND)
        if status == 403 and reason == "forbiddenForNonOrganizer":
            return BookingRefused(
                detail + " (only the meeting's organizer can change it)", code=reason, backend=BACKEND
            )
        if status == 403:
            return CalendarAccessDenied(
                detail + " (may the booking user make changes to events on this calendar? is the scope granted for "
                "domain-wide delegation? see docs/google-workspace.md)",
                backend=BACKEND,
            )
        if status == 404:
            return NotFound(detail, backend=BACKEND)
        if status == 409 and reason == "duplicate":
            return Duplicate(detail, backend=BACKEND)
        if status == 412:
            return PreconditionFailed(detail, backend=BACKEND)
        if status in (400, 409):
            return BookingRefused(detail, code=reason, backend=BACKEND)
        if status in RETRYABLE_STATUS:
            return BackendUnavailable(detail, backend=BACKEND)
        return InvalidResponse(detail, backend=BACKEND)
    if isinstance(exc, OSError | httplib2.HttpLib2Error | TransportError | socket.timeout):
        where = unreachable("Google", url, exc) if url else f"Google cannot be reached: {network_reason(exc)}"
        return BackendUnavailable(f"{what}: {where}", backend=BACKEND)
    if isinstance(exc, GoogleAuthError):
        return AuthenticationFailed(f"{what}: {exc}", backend=BACKEND)
    if isinstance(exc, json.JSONDecodeError | ValueError | TypeError | KeyError | AttributeError):
        return InvalidResponse(f"{what}: unreadable answer: {type(exc).__name__}: {exc}", backend=BACKEND)
    return exc


@contextmanager
def google_errors(what: str, url: str = "") -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        translated = translate(exc, what, url)
        if translated is exc:
            raise
        raise translated from exc
