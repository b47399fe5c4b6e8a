"""A small HTTP proxy in front of the real Radicale that makes it a server without ``sync-collection``.

Not a mock of the server: every request goes to Radicale and its answer comes back unchanged, except that the
sync-collection REPORT is refused the way servers without it refuse it (``501 Not Implemented``, or ``403`` with
RFC 3253's ``DAV:supported-report`` precondition) or, in ``hide`` mode, is also left out of the collection's
``supported-report-set``, as a server that never had it would answer. ``bad-token`` answers a sync with a token
with a 500, as servers do for a token they cannot read.
"""

from __future__ import annotations

from collections import Counter
from types import TracebackType

import aiohttp
from aiohttp import web

#: not forwarded; Accept-Encoding too, so that answers come back uncompressed and can be rewritten in ``hide`` mode
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host", "upgrade"}
    | {"accept-encoding"}
)
SUPPORTED_REPORT_ERROR = '<?xml version="1.0"?><D:error xmlns:D="DAV:"><D:supported-report/></D:error>'
SYNC_REPORT_ENTRY = "<supported-report><report><sync-collection /></report></supported-report>"


class NoSyncProxy:
    def __init__(self, upstream: str, mode: str = "501") -> None:
        self.upstream = upstream.rstrip("/")
        self.mode = mode  # "501" | "403" | "hide" | "bad-token"
        self.refused: Counter[str] = Counter()
        self.authorizations: list[str] = []  # every distinct Authorization header seen, in order
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> NoSyncProxy:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/"
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        authorization = request.headers.get("Authorization", "")
        if authorization and authorization not in self.authorizations:
            self.authorizations.append(authorization)
        if self.mode == "bad-token" and request.method == "REPORT" and b"sync-token>http" in body:
            self.refused[request.path] += 1  # Apple Calendar Server and Xandikos: 500 for a token they cannot read
            return web.Response(status=500, text="Internal Server Error")
        if self.mode != "bad-token" and request.method == "REPORT" and b"sync-collection" in body:
            self.refused[request.path] += 1
            if self.mode == "403":
                return web.Response(status=403, text=SUPPORTED_REPORT_ERROR, content_type="application/xml")
            return web.Response(status=501, text="sync-collection is not implemented here")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        assert self._session is not None
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body or None
        ) as answer:
            content = await answer.read()
            if self.mode == "hide" and request.method == "PROPFIND":
                content = content.replace(SYNC_REPORT_ENTRY.encode(), b"")
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=answer.status, body=content, headers=kept)
