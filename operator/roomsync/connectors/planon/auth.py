"""The two documented ways to authenticate to the Planon REST API (reference §1.7).

- Access key: ``Authorization: PLANONKEY accesskey=<key>``, tied to a Planon user.
- OIDC client credentials: a token from the identity provider's token endpoint (form body ``grant_type``,
  ``client_id``, ``client_secret``), sent as ``Bearer``; cached and refreshed before it expires; the Planon user
  ``service-account-<client id>`` must exist.

Secrets live only in these objects; their ``repr`` never shows them and nothing here logs them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import aiohttp

from roomsync.connectors.base import AuthenticationFailed, BackendUnavailable, InvalidResponse

BACKEND = "planon"


class Auth(Protocol):
    async def header(self, session: aiohttp.ClientSession) -> str: ...

    def invalidate(self) -> bool:
        """Forget cached credentials; ``True`` when a retry with fresh ones can help (a token, not a key)."""
        ...


class AccessKeyAuth:
    def __init__(self, key: str) -> None:
        if not key.strip():
            raise AuthenticationFailed("the Planon access key is empty", backend=BACKEND)
        self._key = key.strip()

    async def header(self, session: aiohttp.ClientSession) -> str:
        return f"PLANONKEY accesskey={self._key}"

    def invalidate(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "AccessKeyAuth(key=***)"


class OidcAuth:
    """Client-credentials tokens, refreshed when less than ``margin`` of their lifetime (max 60 s) is left."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str | None = None) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    def __repr__(self) -> str:
        return f"OidcAuth(token_url={self.token_url!r}, client_id={self.client_id!r}, secret=***)"

    def invalidate(self) -> bool:
        self._token = None
        return True

    async def header(self, session: aiohttp.ClientSession) -> str:
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires:
                await self._fetch(session)
            assert self._token is not None
            return f"Bearer {self._token}"

    async def _fetch(self, session: aiohttp.ClientSession) -> None:
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self._secret}
        if self.scope:
            form["scope"] = self.scope
        self.fetches += 1
        try:
            async with session.post(self.token_url, data=form) as resp:
                if resp.status in (400, 401, 403):
                    error = await _error_text(resp)
                    raise AuthenticationFailed(
                        f"the token endpoint refused client {self.client_id!r}: {error}", backend=BACKEND
                    )
                if resp.status >= 400:
                    raise BackendUnavailable(f"the token endpoint answered {resp.status}", backend=BACKEND)
                payload = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise BackendUnavailable(
                f"the token endpoint cannot be reached: {type(exc).__name__}", backend=BACKEND
            ) from None
        except ValueError:
            raise InvalidResponse("the token endpoint answered something that is not JSON", backend=BACKEND) from None
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
