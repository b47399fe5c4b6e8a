"""exchangelib's exceptions translated into the port's errors, with what may be retried.

exchangelib raises the same class for different things on the wire (with the fail-fast policy a 503, a time-out and
a dropped connection can all surface as ``ErrorServerBusy``), so the classification also looks at what the transport
recorded for the call: an HTTP 500 carrying ``ErrorServerBusy`` is Exchange's throttling (the request was not carried
out: any request may be repeated after BackOffMilliseconds); a 503, a time-out or a reset after sending may have been
carried out, so only reads are repeated; a failure to connect sent nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from azure.core.exceptions import ClientAuthenticationError
from exchangelib import errors as ews
from oauthlib.oauth2 import OAuth2Error

from roomsync.connectors.base import (
    AuthenticationFailed,
    BackendError,
    BackendUnavailable,
    BookingRefused,
    InvalidResponse,
    NotFound,
    PreconditionFailed,
)
from roomsync.connectors.ews.transport import CallContext

BACKEND = "ews"
NOT_FOUND = (ews.ErrorItemNotFound, ews.ErrorCalendarOccurrenceIsDeletedFromRecurrence)
STALE = (ews.ErrorIrresolvableConflict, ews.ErrorStaleObject)
NO_ACCESS = (ews.ErrorImpersonateUserDenied, ews.ErrorAccessDenied, ews.ErrorNonExistentMailbox)
SERVER_FAULTS = (
    ews.ErrorInternalServerError,
    ews.ErrorInternalServerTransientError,
    ews.ErrorMailboxStoreUnavailable,
    ews.ErrorMailboxMoveInProgress,
    ews.ErrorTimeoutExpired,
    ews.SOAPError,
    ews.ErrorTooManyObjectsOpened,
)


ACCESS_HINTS = {
    ews.ErrorImpersonateUserDenied: " (is the room in the ApplicationImpersonation scope of the service account?"
    " see docs/exchange-on-premises.md)",
    ews.ErrorAccessDenied: " (with accessType Delegate the service account needs FullAccess on the room;"
    " see docs/exchange-on-premises.md)",
    ews.ErrorNonExistentMailbox: " (is the room's address in the RoomSync right?)",
}


class MailboxAccessDenied(AuthenticationFailed):
    """The service account may not open this room (impersonation scope, delegate rights, no such mailbox)."""


class SyncStateInvalid(Exception):
    """The SyncFolderItems state is gone (mailbox moved, state expired): the caller reads the room in full."""


class WriteUncertain(BackendUnavailable):
    """A write failed in a way that leaves open whether Exchange carried it out (503, time-out, reset, 5xx)."""


@dataclass(frozen=True)
class Failure:
    error: BaseException
    retry_read: bool = False
    retry_write: bool = False
    wait: float | None = None


def classify(exc: BaseException, call: CallContext, what: str) -> Failure:
    """The port error for ``exc`` raised during ``what``, and whether a read / a write may be tried again."""
    last = call.last
    detail = f"{what}: {type(exc).__name__}: {exc}"
    if isinstance(exc, ews.ErrorInvalidSyncStateData) or "ErrorInvalidSyncStateData" in call.codes:
        return Failure(SyncStateInvalid(detail))
    if isinstance(exc, ClientAuthenticationError | OAuth2Error):
        text = str(getattr(exc, "message", None) or exc).splitlines()[0][:300]
        return Failure(AuthenticationFailed(f"{what}: token request refused: {text}", backend=BACKEND))
    if last == "connect-error":
        return Failure(BackendUnavailable(detail, backend=BACKEND), retry_read=True, retry_write=True)
    if last == "tls-error" or (isinstance(exc, ews.TransportError) and "certificate" in str(exc).lower()):
        hint = " (is the server's CA in caBundle / caSecretRef?)"
        return Failure(BackendUnavailable(detail + hint, backend=BACKEND, retryable=False))
    if isinstance(exc, ews.ErrorServerBusy) and last == 500:
        return Failure(BackendUnavailable(detail, backend=BACKEND), True, True, wait=exc.back_off)
    if isinstance(exc, ews.ErrorExceededConnectionCount):
        return Failure(BackendUnavailable(detail, backend=BACKEND), True, True, wait=1.0)
    if isinstance(exc, ews.UnauthorizedError | ews.CASError) or last == 401:
        return Failure(AuthenticationFailed(detail + " (check the service account and its password)", backend=BACKEND))
    if isinstance(exc, NO_ACCESS):
        return Failure(MailboxAccessDenied(detail + ACCESS_HINTS.get(type(exc), ""), backend=BACKEND))
    if isinstance(exc, NOT_FOUND):
        return Failure(NotFound(detail, backend=BACKEND))
    if isinstance(exc, STALE):
        return Failure(PreconditionFailed(detail, backend=BACKEND))
    if isinstance(exc, ews.ErrorServerBusy | ews.RateLimitError | ews.ErrorTimeoutExpired) or last in (
        503,
        "timeout",
        "reset",
    ):
        return Failure(WriteUncertain(detail, backend=BACKEND), retry_read=True)
    if isinstance(exc, SERVER_FAULTS):
        return Failure(WriteUncertain(detail, backend=BACKEND), retry_read=True)
    if isinstance(exc, ews.MalformedResponseError | ews.TransportError):
        return Failure(InvalidResponse(detail, backend=BACKEND), retry_read=True)
    if isinstance(exc, ews.ResponseMessageError):
        return Failure(BookingRefused(detail, code=type(exc).__name__, backend=BACKEND))
    if isinstance(exc, BackendError):
        return Failure(exc)
    if isinstance(exc, ValueError | TypeError | KeyError | AttributeError):
        return Failure(InvalidResponse(f"{what}: unreadable answer: {type(exc).__name__}: {exc}", backend=BACKEND))
    return Failure(exc)
