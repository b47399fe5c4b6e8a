"""caldav, niquests and HTTP-status failures translated into the port's errors, so nothing raw leaves a store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from caldav.lib import error as dav_error
from lxml import etree

from roomsync.connectors.base import (
    AuthenticationFailed,
    BackendError,
    BackendUnavailable,
    BookingRefused,
    InvalidResponse,
    NotFound,
    PreconditionFailed,
)
from roomsync.connectors.network import reason

BACKEND = "caldav"
VALID_SYNC_TOKEN = "{DAV:}valid-sync-token"
SUPPORTED_REPORT = "{DAV:}supported-report"
NO_UID_CONFLICT = "{urn:ietf:params:xml:ns:caldav}no-uid-conflict"
RIGHTS_HINT = "does the service account have read and write rights on this room calendar? see docs/caldav.md"


class CalendarAccessDenied(AuthenticationFailed):
    """403 on one room calendar: the credentials work, but not for this collection."""


class SyncTokenInvalid(Exception):
    """The server refused the sync token (RFC 6578 valid-sync-token, expired or unknown): read everything again."""


class SyncUnsupported(Exception):
    """The server (or something in front of it) does not do the sync-collection REPORT: compare ETags instead."""


class UidTaken(BackendError):
    """A create found the UID under another name in the collection (CALDAV:no-uid-conflict)."""


def _short(body: object) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    return " ".join(text.split())[:200]


def status_error(status: int, what: str, body: object = "", preconditions: list[str] | None = None) -> BackendError:
    """The port error for an HTTP status a request answered with (writes name the precondition that failed)."""
    named = ", ".join(p.rsplit("}", 1)[-1] for p in preconditions or [])
    detail = f"{what}: HTTP {status}" + (f" ({named})" if named else "") + (f": {_short(body)}" if body else "")
    if status == 401:
        return AuthenticationFailed(detail + " (check spec.caldav.auth)", backend=BACKEND)
    if status == 403 and not preconditions:
        return CalendarAccessDenied(f"{detail} ({RIGHTS_HINT})", backend=BACKEND)
    if status == 404:
        return NotFound(detail, backend=BACKEND)
    if status == 412:
        return PreconditionFailed(detail, backend=BACKEND)
    if status == 429 or status >= 500:
        return BackendUnavailable(detail, backend=BACKEND)
    if status in (400, 403, 409, 413, 415, 422, 507):
        return BookingRefused(detail, code=named or str(status), backend=BACKEND)
    return InvalidResponse(detail, backend=BACKEND)


def translate(exc: BaseException, what: str) -> BaseException:
    """The port error for ``exc`` raised while doing ``what``."""
    if isinstance(exc, BackendError | SyncTokenInvalid | SyncUnsupported):
        return exc
    if isinstance(exc, dav_error.RateLimitError):
        return BackendUnavailable(f"{what}: throttled ({exc.reason})", backend=BACKEND)
    if isinstance(exc, dav_error.DAVError):
        if exc.status is not None:
            return status_error(exc.status, what, exc.body or "", exc.preconditions)
        if isinstance(exc, dav_error.NotFoundError):
            return NotFound(f"{what}: {exc.reason}", backend=BACKEND)
        return InvalidResponse(f"{what}: {exc.reason}", backend=BACKEND)
    if isinstance(exc, OSError | TimeoutError):  # niquests' RequestException is an OSError; ``what`` names the URL
        return BackendUnavailable(f"{what}: the CalDAV server cannot be reached: {reason(exc)}", backend=BACKEND)
    if isinstance(exc, etree.XMLSyntaxError | ValueError | TypeError | KeyError | AttributeError):
        return InvalidResponse(f"{what}: unreadable answer: {exc.__class__.__name__}: {exc}", backend=BACKEND)
    return exc


@asynccontextmanager
async def caldav_errors(what: str) -> AsyncIterator[None]:
    try:
        yield
    except Exception as exc:
        translated = translate(exc, what)
        if translated is exc:
            raise
        raise translated from exc
