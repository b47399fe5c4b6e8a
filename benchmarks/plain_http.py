"""The baseline of the no-change cycle: the same delta GETs sent with nothing but httpx.

What any poller has to do at least: one GET per mailbox with the deltaLink it holds, a bearer token, the JSON answer
parsed. Same HTTP client library and settings as the connector (httpx, HTTP/2 offered, one pool of
``maxRequestsInFlight`` connections, the sandbox's CA), no SDK, no batching, no engine; what RoomSync spends above
this is its own overhead.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Baseline:
    requests: int
    statuses: dict[int, int]
    wall: float
    cpu: float


async def token(spec: dict[str, Any], secret: str) -> str:
    """An app-only token from the sandbox's identity endpoint (client credentials, as the connector gets it)."""
    url = f"{spec['authorityHost'].rstrip('/')}/{spec['tenantId']}/oauth2/v2.0/token"
    form = {
        "grant_type": "client_credentials",
        "client_id": spec["clientId"],
        "client_secret": secret,
        "scope": "https://graph.microsoft.com/.default",
    }
    async with httpx.AsyncClient(verify=ssl.create_default_context(cadata=spec["caBundle"])) as http:
        answer = await http.post(url, data=form)
        answer.raise_for_status()
        return str(answer.json()["access_token"])


async def delta_gets(spec: dict[str, Any], bearer: str, links: Sequence[str], in_flight: int) -> Baseline:
    """GET every deltaLink once (``in_flight`` at a time) and parse the answers; wall and CPU time of that alone."""
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    headers = {"Authorization": f"Bearer {bearer}", "Prefer": "odata.maxpagesize=100"}
    statuses: dict[int, int] = {}
    gate = asyncio.Semaphore(in_flight)
    context = ssl.create_default_context(cadata=spec["caBundle"])
    async with httpx.AsyncClient(verify=context, http2=True, limits=limits, headers=headers) as http:

        async def one(link: str) -> None:
            async with gate:
                answer = await http.get(link)
                answer.json()
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

        await asyncio.gather(*(one(link) for link in links))  # a warm pool (TLS done), as the operator's is
        statuses.clear()
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(link) for link in links))
        return Baseline(len(links), statuses, time.perf_counter() - wall, time.process_time() - cpu)
