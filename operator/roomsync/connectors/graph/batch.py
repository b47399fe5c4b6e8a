"""Graph JSON batching (``POST /$batch``): requests made at about the same time travel together, up to 20 at once.

Where it pays: a cycle over 1,000 rooms sends 1,000 delta requests, a first sync thousands of creates. Sent one by
one, each costs an HTTP exchange (TLS, headers, the connection pool's bookkeeping) that is worth more CPU than the
request itself; batched, 20 share one (graph-and-ews.md 1.7; docs/performance.md has the measured effect).

Graph's rules, and how they are kept:

- at most 20 requests per batch, each with a **relative** URL (``/users/...``; real Graph refuses the absolute URLs
  msgraph-core's own batch helper sends) and, with a body, a ``Content-Type`` header. The batch is built here by
  hand from the SDK's own request information (URL template, query, headers, serialized body) for that reason: the
  SDK's batch helper is broken against real Graph (graph-and-ews.md 1.7: ``depends_on`` spelling, absolute URLs,
  object bodies read as ``None``, an undeclared dependency).
- every inner request counts against its mailbox's limits as if sent alone: it takes one of the mailbox's
  concurrency slots (:meth:`MailboxTransport.slot`) while in a batch, and it is throttled on its own - a 429 inside
  a batch is retried by itself with its ``Retry-After`` (:meth:`RetryPolicy.wait`), in a later batch.
- the batch itself is one HTTP request through the SDK's request adapter and :class:`MailboxTransport` (counted as
  ``$batch``, bounded by ``maxRequestsInFlight``); when it fails as a whole, every request in it fails with that
  error. A batch is repeated after a 5xx only when every request in it could be repeated (reads, PATCH, DELETE,
  creates with a transactionId).

Requests are collected for ``linger`` seconds (or until 20 are waiting), so a lone write waits a couple of
milliseconds at most.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from roomsync.connectors.base import InvalidResponse
from roomsync.connectors.graph.errors import BACKEND
from roomsync.connectors.graph.transport import MailboxTransport, operation_of

#: Graph's limit on requests per batch (json-batching).
MAX_BATCH: Final = 20
#: How long the first request of a batch waits for company.
LINGER: Final = 0.002


@dataclass(frozen=True)
class Answer:
    """One inner request's answer: status, headers and the body as JSON (``None`` when there is none)."""

    status: int
    headers: Mapping[str, str]
    body: Any


@dataclass
class _Waiting:
    method: str
    url: str  # relative to the base URL, e.g. /users/room%40x/calendarView/delta?$deltatoken=...
    headers: dict[str, str]
    body: Any
    repeatable: bool
    answer: asyncio.Future[Answer] = field(repr=False)

    def as_json(self, request_id: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": request_id, "method": self.method, "url": self.url}
        if self.headers:
            entry["headers"] = self.headers
        if self.body is not None:
            entry["body"] = self.body
        return entry


#: Sends one ``$batch`` payload (JSON bytes); ``repeatable`` says whether a 5xx may be retried. Returns the answer.
PostBatch = Callable[[bytes, bool], Awaitable[bytes]]


class Batcher:
    """Collects requests into ``$batch`` posts; one per client (shared by all stores of a Connection)."""

    def __init__(
        self, post: PostBatch, transport: MailboxTransport, *, size: int = MAX_BATCH, linger: float = LINGER
    ) -> None:
        self.post = post
        self.transport = transport
        self.size = max(1, min(size, MAX_BATCH))
        self.linger = linger
        self._waiting: list[_Waiting] = []
        self._timer: asyncio.TimerHandle | None = None
        self._posts: set[asyncio.Task[None]] = set()

    async def send(
        self,
        mailbox: str,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Any = None,
        *,
        repeatable: bool,
    ) -> Answer:
        """One request to ``mailbox`` (``url`` relative to the base URL), retried on its own when throttled."""
        room = self.transport.room_of(mailbox)
        op = operation_of(method, url)
        sent = dict(headers)
        attempt = 0
        while True:
            attempt += 1
            async with self.transport.slot(mailbox):
                answer = await self._enqueue(method, url, sent, body, repeatable)
            self.transport.requests.add(room, op, answer.status)
            policy = self.transport.policy
            wait = policy.wait(answer.status, answer.headers.get("Retry-After"), attempt, repeatable=repeatable)
            if wait is None:
                return answer
            self.transport.requests.throttled_seconds += wait
            sent["Retry-Attempt"] = str(attempt)
            await self.transport.sleep(wait)

    def _enqueue(
        self, method: str, url: str, headers: dict[str, str], body: Any, repeatable: bool
    ) -> Awaitable[Answer]:
        loop = asyncio.get_running_loop()
        waiting = _Waiting(method, url, dict(headers), body, repeatable, loop.create_future())
        self._waiting.append(waiting)
        if len(self._waiting) >= self.size:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.linger, self._flush)
        return waiting.answer

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiting:
            chunk, self._waiting = self._waiting[: self.size], self._waiting[self.size :]
            task = asyncio.get_running_loop().create_task(self._post(chunk))
            self._posts.add(task)
            task.add_done_callback(self._posts.discard)

    async def _post(self, chunk: list[_Waiting]) -> None:
        payload = {"requests": [w.as_json(str(i)) for i, w in enumerate(chunk, start=1)]}
        try:
            raw = await self.post(json.dumps(payload).encode(), all(w.repeatable for w in chunk))
            answers = _answers(raw)
        except Exception as exc:  # the batch failed as a whole: so did every request in it
            for waiting in chunk:
                if not waiting.answer.done():
                    waiting.answer.set_exception(exc)
            return
        for i, waiting in enumerate(chunk, start=1):
            if waiting.answer.done():
                continue
            found = answers.get(str(i))
            if found is None:
                waiting.answer.set_exception(
                    InvalidResponse(f"Graph's $batch answer left out request {i}", backend=BACKEND)
                )
            else:
                waiting.answer.set_result(found)


def _answers(raw: bytes) -> dict[str, Answer]:
    """The inner answers of a ``$batch`` response by request id (they may come in any order)."""
    data = json.loads(raw)
    responses = data.get("responses") if isinstance(data, dict) else None
    if not isinstance(responses, list):
        raise InvalidResponse("Graph answered a $batch without responses", backend=BACKEND)
    result: dict[str, Answer] = {}
    for entry in responses:
        if not isinstance(entry, dict) or "id" not in entry or "status" not in entry:
            raise InvalidResponse("Graph answered a $batch with a response lacking id or status", backend=BACKEND)
        headers = {str(k): str(v) for k, v in (entry.get("headers") or {}).items()}
        result[str(entry["id"])] = Answer(int(entry["status"]), headers, entry.get("body"))
    return result
