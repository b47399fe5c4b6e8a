"""The bottom of the Graph client's HTTP stack: each request sent directly or through the proxy the environment names.

httpx reads ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` only for the transports it builds itself; the Graph client
passes its own (:class:`~roomsync.connectors.graph.transport.MailboxTransport` needs to sit at the bottom), so this
transport applies the variables with the same rules as the Planon client and the token requests
(:func:`roomsync.connectors.network.proxy_for`). The choice is made once per origin; one connection pool per proxy.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from roomsync.connectors.network import proxy_for


class EnvironmentProxies(httpx.AsyncBaseTransport):
    """``make(proxy)`` builds the transport for one proxy URL (``None``: direct)."""

    def __init__(self, make: Callable[[str | None], httpx.AsyncBaseTransport]) -> None:
        self._make = make
        self._proxy_of: dict[tuple[str, str, int | None], str | None] = {}
        self._transports: dict[str | None, httpx.AsyncBaseTransport] = {}

    def transport_for(self, url: httpx.URL) -> httpx.AsyncBaseTransport:
        origin = (url.scheme, url.host, url.port)
        if origin not in self._proxy_of:
            self._proxy_of[origin] = proxy_for(str(url))
        proxy = self._proxy_of[origin]
        transport = self._transports.get(proxy)
        if transport is None:
            transport = self._transports[proxy] = self._make(proxy)
        return transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.transport_for(request.url).handle_async_request(request)

    async def aclose(self) -> None:
        for transport in self._transports.values():
            await transport.aclose()
