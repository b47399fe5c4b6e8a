"""The two documented ways to authenticate to the Planon REST API (reference §1.7).

- Access key: ``Authorization: PLANONKEY accesskey=<key>``, tied to a Planon user.
- OIDC client credentials: a token from the identity provider's token endpoint (form body ``grant_type``,
  ``client_id``, ``client_secret``), sent as ``Bearer``; cached and refreshed before it expires; the Planon user
  ``service-account-<client id>`` must exist.

Secrets live only in these objects; their ``repr`` never shows them and nothing here logs them. When Planon or the
token endpoint refuses them, the error names where they came from (the Secret and key) and what usually causes it.
Concurrent requests that wait while a token request fails get that failure too: one dead or refusing token
endpoint costs one attempt per cycle, not one per room.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import aiohttp

from roomsync.connectors.base import AuthenticationFailed, BackendError, BackendUnavailable, InvalidResponse
from roomsync.connectors.network import proxy_for, unreachable

BACKEND = "planon"
#: Where a person makes a Planon access key (reference planon.md 1.7); the docs and the CRD say the same.
ACCESS_KEY_MENU = "Accounts > User groups > Users > Settings > Access keys"


class Auth(Protocol):
    async def header(self, session: aiohttp.ClientSession) -> str: ...

    def invalidate(self) -> bool:
        """Forget cached credentials; ``True`` when a retry with fresh ones can help (a token, not a key)."""
        ...

    def refused(self, answer: str, path: str) -> str:
        """What to say when Planon answers 401 to these credentials (``answer``: status and Planon's text)."""
        ...

    def forbidden(self, answer: str, path: str) -> str:
        """What to say when Planon answers 403: the credentials are fine, their Planon user may not do ``path``."""
        ...


class TokenEndpointUnavailable(BackendUnavailable):
    """The OIDC token endpoint cannot be reached or fails: no request can be sent. Not retried within a read (every
    request waiting for a token would ask again); the next cycle tries again."""


def _forbidden(user: str, answer: str, path: str) -> str:
    definition = path.split("/")[1] if "/" in path else path
    return (
        f"Planon does not let {user} do {path} ({answer}): give the user's group a function profile with rights on "
        f"{definition} (docs/planon.md)"
    )


class AccessKeyAuth:
    def __init__(self, key: str, *, source: str = "the Secret") -> None:
        """``source`` says where the key came from (``Secret facilities/planon, key accessKey``) for messages."""
        self.source = source
        if not key.strip():
            raise AuthenticationFailed(f"the Planon access key in {source} is empty", backend=BACKEND)
        self._key = key.strip()

    async def header(self, session: aiohttp.ClientSession) -> str:
        return f"PLANONKEY accesskey={self._key}"

    def invalidate(self) -> bool:
        return False

    def refused(self, answer: str, path: str) -> str:
        return (
            f"Planon refused the access key in {self.source} ({answer}): the key is wrong or expired, or its Planon "
            f"user is inactive; make a new key in Planon under {ACCESS_KEY_MENU} and put it in the Secret"
        )

    def forbidden(self, answer: str, path: str) -> str:
        return _forbidden("the access key's user", answer, path)

    def __repr__(self) -> str:
        return "AccessKeyAuth(key=***)"


class OidcAuth:
    """Client-credentials tokens, refreshed when less than ``margin`` of their lifetime (max 60 s) is left."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        *,
        source: str = "the Secret",
    ) -> None:
        """``source`` says where the client secret came from (``Secret facilities/planon, key clientSecret``)."""
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope
        self.source = source
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0
        self._finished = 0  # token requests done: a caller that saw fewer waited for the last one
        self._failure: BackendError | None = None

    def __repr__(self) -> str:
        return f"OidcAuth(token_url={self.token_url!r}, client_id={self.client_id!r}, secret=***)"

    def invalidate(self) -> bool:
        self._token = None
        return True

    def refused(self, answer: str, path: str) -> str:
        user = f"service-account-{self.client_id}"
        return (
            f"Planon refused the token of OIDC client {self.client_id!r} ({answer}): the Planon user {user} must "
            "exist and be active, and OpenID Connect must be enabled for the SDK (docs/planon.md)"
        )

    def forbidden(self, answer: str, path: str) -> str:
        return _forbidden(f"service-account-{self.client_id}", answer, path)

    async def header(self, session: aiohttp.ClientSession) -> str:
        finished_seen = self._finished
        async with self._lock:
            if self._finished != finished_seen and self._failure is not None:
                raise self._failure  # the token request this one waited for failed: no second try this round
            if self._token is None or time.monotonic() >= self._expires:
                try:
                    await self._fetch(session)
                except BackendError as failure:
                    self._failure = failure
                    raise
                else:
                    self._failure = None
                finally:
                    self._finished += 1
            assert self._token is not None
            return f"Bearer {self._token}"

    async def _fetch(self, session: aiohttp.ClientSession) -> None:
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self._secret}
        if self.scope:
            form["scope"] = self.scope
        self.fetches += 1
        try:
            async with session.post(self.token_url, data=form, proxy=proxy_for(self.token_url)) as resp:
                if resp.status in (400, 401, 403):
                    error = await _error_text(resp)
                    raise AuthenticationFailed(
                        f"the token endpoint {self.token_url} refused OIDC client {self.client_id!r} ({error}): the "
                        f"client secret in {self.source} is wrong or expired, or the client id is not a client with "
                        "client authentication and service accounts enabled",
                        backend=BACKEND,
                    )
                if resp.status >= 400:
                    raise TokenEndpointUnavailable(
                        f"the token endpoint {self.token_url} answered HTTP {resp.status}", backend=BACKEND
                    )
                payload = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TokenEndpointUnavailable(
                unreachable("the token endpoint", self.token_url, exc), backend=BACKEND
            ) from None
        except ValueError:
            raise InvalidResponse(
                f"the token endpoint {self.token_url} answered something that is not JSON", backend=BACKEND
            ) from None
        token, lifetime = (payload or {}).get("access_token"), (payload or {}).get("expires_in", 300)
        if not isinstance(token, str) or not token or not isinstance(lifetime, int | float):
            raise InvalidResponse("the token endpoint answered without access_token/expires_in", backend=BACKEND)
        margin = min(60.0, float(lifetime) / 10)
        self._token = token
        self._expires = time.monotonic() + float(lifetime) - margin


async def _error_text(resp: aiohttp.ClientResponse) -> str:
    try:
        payload = await resp.json(content_type=None)
    except ValueError:
        return f"HTTP {resp.status}"
    if isinstance(payload, dict):
        return str(payload.get("error_description") or payload.get("error") or f"HTTP {resp.status}")
    return f"HTTP {resp.status}"
