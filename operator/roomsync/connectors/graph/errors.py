"""SDK, azure-identity and httpx exceptions translated into the port's errors, so nothing raw leaves a store.

Each says what to do: a dead URL names the URL and the reason (connection refused, name not resolved, TLS failure);
a refused token names the app, the tenant, where the credential comes from and what an AADSTS code usually means.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Final

import httpx
from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError
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
from roomsync.connectors.network import clean, unreachable

if TYPE_CHECKING:
    from roomsync.connectors.graph.settings import GraphSettings

BACKEND = "graph"
SYNC_STATE_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})
_AADSTS: Final = re.compile(r"AADSTS(\d+):?\s*(.*?)(?:\s+Trace ID:|'|\r|\n|$)")
#: What an Entra ID refusal usually means and what to do about it, by AADSTS code.
TOKEN_REFUSALS: Final = {
    "7000215": "{credential} is wrong (it must be the secret's Value, not its Secret ID)",
    "7000222": "{credential} has expired: add a new one under App registrations > Certificates & secrets",
    "90002": "tenant {tenant} does not exist: check spec.graph.tenantId",
    "900023": "{tenant} is not a tenant id or domain: check spec.graph.tenantId",
    "700016": (
        "tenant {tenant} has no app {client}: check spec.graph.clientId and spec.graph.tenantId (a wrong tenant, "
        "or the app was never consented in it)"
    ),
    "7000112": "app {client} is disabled in tenant {tenant}",
    "700027": "{credential} does not match a certificate uploaded to the app registration",
    "700024": "the signed request is outside its valid time: check the clock of the machine RoomSync runs on",
    "65001": "app {client} lacks admin consent: grant admin consent for Calendars.ReadWrite (docs/exchange-online.md)",
    "70021": (
        "no federated credential of app {client} matches the pod's service account token: check its issuer, "
        "subject and audience (docs/exchange-online.md)"
    ),
    "700211": "no federated credential of app {client} has the issuer of the pod's service account token",
    "700213": "no federated credential of app {client} has the subject of the pod's service account token",
    "1002012": "the scope is not valid: check spec.graph.baseUrl",
}
GENERIC_REFUSAL: Final = "likely {credential} is wrong or expired, the tenant is wrong, or the app lacks admin consent"


class MailboxAccessDenied(AuthenticationFailed):
    """403 for one mailbox: the app is not scoped to it (RBAC for Applications / access policy)."""


class TokenEndpointUnavailable(BackendUnavailable):
    """Entra ID's token endpoint cannot be reached or fails: no request of the Connection can be sent, so a read
    stops at once (one failure per cycle, not one per room)."""


def token_error(exc: BaseException, settings: GraphSettings) -> BaseException:
    """The port error for a failed token request of the app ``settings`` names."""
    if isinstance(exc, BackendError):
        return exc
    app = f"app {settings.client_id} in tenant {settings.tenant_id}"
    if isinstance(exc, ClientAuthenticationError | HttpResponseError) and exc.response is not None:
        status = exc.status_code or 0
        if status == 429 or status >= 500:
            return TokenEndpointUnavailable(
                f"the token endpoint {settings.token_url} answered HTTP {status} for {app}", backend=BACKEND
            )
    if isinstance(exc, ClientAuthenticationError):
        text = str(exc.message or exc)
        found = _AADSTS.search(text)
        fill = {"credential": settings.credential, "tenant": settings.tenant_id, "client": settings.client_id}
        if found:
            code, description = found.group(1), found.group(2).strip()
            said = f"AADSTS{code}: {description}".rstrip(": ")
            hint = TOKEN_REFUSALS.get(code, GENERIC_REFUSAL).format(**fill)
        else:
            said, hint = clean(text.splitlines()[0] if text else "refused"), GENERIC_REFUSAL.format(**fill)
        return AuthenticationFailed(f"Entra ID refused a token for {app} ({said}): {hint}", backend=BACKEND)
    if isinstance(exc, AzureError | OSError | TimeoutError):
        return TokenEndpointUnavailable(
            f"{unreachable('the token endpoint', settings.token_url, exc)}; no room can be read or written until "
            "it answers",
            backend=BACKEND,
        )
    return exc


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
        return BackendUnavailable(f"{what}: {unreachable('Microsoft Graph', _origin(exc), exc)}", backend=BACKEND)
    if isinstance(exc, AzureError):
        return BackendUnavailable(f"{what}: {clean(str(exc))}", backend=BACKEND)
    if isinstance(exc, json.JSONDecodeError | ValueError | TypeError | KeyError | AttributeError):
        return InvalidResponse(f"{what}: unreadable answer: {exc.__class__.__name__}: {exc}", backend=BACKEND)
    return exc


def _origin(exc: httpx.TransportError) -> str:
    try:
        url = exc.request.url
    except RuntimeError:  # raised without a request
        return "its base URL"
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}"


def by_status(status: int, code: str, message: str, what: str) -> BaseException:
    """The port error for a Graph error answer (sent alone, or inside a ``$batch``)."""
    detail = f"{what}: {status} {code}: {message}".strip()
    if status == 410 or code.casefold() in SYNC_STATE_CODES:
        return DeltaExpired(detail)
    if status == 401:
        return AuthenticationFailed(detail, backend=BACKEND)
    if status == 403:
        return MailboxAccessDenied(
            detail + " (the app may not use this room mailbox: its RBAC scope or application access policy leaves "
            "it out; refused for every room, Calendars.ReadWrite likely lacks admin consent; see "
            "docs/exchange-online.md)",
            backend=BACKEND,
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
