"""The bottom of the SDK's HTTP stack: per-mailbox and total concurrency, throttling-aware retries, Prefer headers,
counting.

Why here and not in kiota's ``RetryHandler``: that handler retries POST and PATCH blindly on 429/503/504 and ignores
a fractional ``Retry-After`` (``2.128``, the format of Microsoft's own throttling sample) - documented in
graph-and-ews.md 2.3. So the SDK's retry handler is left out of the middleware pipeline and this transport, which
every request of the SDK passes through, does the retrying instead:

- at most ``max_concurrent`` requests in flight per mailbox (Exchange Online allows 4 per app and mailbox) and at
  most ``max_in_flight`` in all (a ``$batch`` counts as one): a cycle over 1,000 rooms never has 1,000 requests
  queued in the connection pool, whose bookkeeping then cost more CPU than the requests (docs/performance.md); a
  slot is released while waiting for a retry;
- 429 is always retried (a throttled request was not executed); 503/504 and resets after sending are retried only for
  idempotent requests (GET, PATCH, DELETE, and a create that carries a ``transactionId``);
- ``Retry-After`` is honoured (seconds, fractional seconds or an HTTP date), otherwise exponential back-off with
  full jitter; bounded attempts and a bounded wait - with tenacity and the rule every connector shares
  (:mod:`roomsync.connectors.retry`; :meth:`RetryPolicy.wait` applies the same rule to the requests inside a
  ``$batch``, see :mod:`.batch`);
- ``Prefer: IdType="ImmutableId"`` and ``outlook.timezone="UTC"`` on every request, nextLinks included;
- every attempt is counted per (room, operation, status) in a :class:`~roomsync.connectors.base.RequestCounts`
  (the room key when a store named the mailbox, else the mailbox; ``""`` for requests about no room, such as a
  ``$batch``, whose inner requests are counted one by one per room), and every second spent waiting on throttling,
  for metrics and benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, retry_if_result, stop_after_attempt
from tenacity.wait import wait_random_exponential

from roomsync.connectors.base import RequestCounts
from roomsync.connectors.retry import parse_retry_after, stop_when_retry_after_exceeds, wait_retry_after

#: The mailbox a store is working on; set around SDK calls so nextLinks and odd URLs are attributed correctly.
current_mailbox: contextvars.ContextVar[str | None] = contextvars.ContextVar("roomsync_graph_mailbox", default=None)
#: Set by the store around a POST that is safe to repeat (a create with a transactionId).
retry_safe: contextvars.ContextVar[bool] = contextvars.ContextVar("roomsync_graph_retry_safe", default=False)

PREFER = ('IdType="ImmutableId"', 'outlook.timezone="UTC"')
RETRYABLE = frozenset({429, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
_USER = re.compile(r"/users/([^/?]+)")
#: Failures before anything reached the server, and failures after the request may have been sent.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
LOST_ANSWER = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadTimeout)
#: (method, on the collection) -> operation, so a subscription id never becomes a metric label
SUBSCRIPTION_OPERATIONS = {
    ("POST", True): "subscriptions.create",
    ("GET", True): "subscriptions.list",
    ("PATCH", False): "subscriptions.renew",
    ("DELETE", False): "subscriptions.delete",
    ("GET", False): "subscriptions.get",
}


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    max_retry_after: float = 60.0  # a longer Retry-After gives up (the next cycle tries again)
    backoff_base: float = 0.5
    backoff_cap: float = 20.0

    def wait(self, status: int, retry_after: str | None, attempt: int, *, repeatable: bool) -> float | None:
        """Seconds to wait before attempt ``attempt + 1`` of a request answered ``status``; None: do not retry.

        429 was not executed, so it is always retried; 503/504 only when repeating cannot do a write twice.
        """
        if status not in RETRYABLE or attempt >= self.max_attempts:
            return None
        if status != 429 and not repeatable:
            return None  # the server may have acted: the caller decides, never a blind repeat
        wait = parse_retry_after(retry_after)
        if wait is not None and wait > self.max_retry_after:
            return None
        return self.backoff(attempt) if wait is None else wait + random.uniform(0, min(0.25, wait * 0.1))

    def backoff(self, attempt: int) -> float:
        """Exponential back-off with full jitter (a little jitter on a Retry-After spreads parallel callers)."""
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))


def mailbox_of(url: httpx.URL) -> str:
    match = _USER.search(url.raw_path.decode("ascii", "replace"))
    return unquote(match.group(1)).casefold() if match else "-"


def operation_of(method: str, raw_path: str) -> str:
    """A stable operation name (``delta``, ``calendarView``, ``events.get`` ...) for counters. ``raw_path``: the
    URL's path as sent (percent-encoded, a query allowed), e.g. ``/v1.0/users/room%40x/events``; a string, not an
    ``httpx.URL``: parsing one per request inside a ``$batch`` cost more than the rest of the counting."""
    path = unquote(raw_path.split("?", 1)[0])
    parts = [p for p in path.split("/") if p]
    if "subscriptions" in parts:
        return SUBSCRIPTION_OPERATIONS.get((method, parts[-1] == "subscriptions"), "subscriptions")
    if "users" not in parts:
        return "places" if "places" in parts else (parts[-1] if parts else "root")
    rest = parts[parts.index("users") + 2 :]
    if rest[:1] == ["calendar"]:
        rest = rest[1:]
    if not rest:
        return "user"
    if rest[0] == "calendarView":
        return "delta" if len(rest) > 1 else "calendarView"
    if rest[0] == "events":
        if len(rest) == 1:
            return "events.create" if method == "POST" else "events.list"
        if len(rest) == 2:
            return {"GET": "events.get", "PATCH": "events.update", "DELETE": "events.delete"}.get(method, "events")
        return f"events.{rest[2]}"
    return rest[0]


class MailboxTransport(httpx.AsyncBaseTransport):
    """Wraps the real transport; one instance per client (shared by all stores of a Connection)."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        max_concurrent: int = 4,
        max_in_flight: int = 64,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        room_of: Callable[[str], str] = lambda mailbox: mailbox,
    ) -> None:
        self.inner = inner
        self.max_concurrent = max_concurrent
        self.policy = policy or RetryPolicy()
        self.requests = RequestCounts()
        self.room_of = room_of
        self.sleep = sleep or asyncio.sleep
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._in_flight = asyncio.Semaphore(max_in_flight)

    def slot(self, mailbox: str) -> asyncio.Semaphore:
        """The mailbox's concurrency slots (also taken by requests sent inside a ``$batch``)."""
        slot = self._slots.get(mailbox)
        if slot is None:
            slot = self._slots[mailbox] = asyncio.Semaphore(self.max_concurrent)
        return slot

    @staticmethod
    def _prefer(request: httpx.Request) -> None:
        present = ", ".join(request.headers.get_list("Prefer"))
        wanted = [p for p in PREFER if p.split("=")[0].lower() not in present.lower()]
        if wanted:
            request.headers["Prefer"] = ", ".join(filter(None, [present, *wanted]))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._prefer(request)
        mailbox = current_mailbox.get() or mailbox_of(request.url)
        room = self.room_of(mailbox) if mailbox != "-" else ""
        op = operation_of(request.method, request.url.raw_path.decode("ascii", "replace"))
        repeatable = request.method in IDEMPOTENT or retry_safe.get()
        # a request about no mailbox (a $batch, the places API) takes no mailbox slot: its inner requests do
        slot = self.slot(mailbox) if mailbox != "-" else contextlib.nullcontext()

        async def attempt() -> httpx.Response:
            async with slot, self._in_flight:  # released while waiting for the next attempt
                try:
                    response = await self.inner.handle_async_request(request)
                except NOT_SENT:
                    self.requests.add(room, op, "connect-error")
                    raise
                except LOST_ANSWER:
                    self.requests.add(room, op, "reset")
                    raise
            self.requests.add(room, op, response.status_code)
            return response

        def again(error: BaseException) -> bool:
            # Nothing reached the server on a connect error: always safe. After sending, only if repeatable.
            return isinstance(error, NOT_SENT) or (repeatable and isinstance(error, LOST_ANSWER))

        def answer_again(response: httpx.Response) -> bool:
            # A throttled request was not executed; a 503/504 may have been: repeat it only when that is safe.
            return response.status_code == 429 or (repeatable and response.status_code in RETRYABLE)

        async def before_sleep(state: RetryCallState) -> None:
            if state.outcome is not None and not state.outcome.failed:
                answer: httpx.Response = state.outcome.result()
                await answer.aread()
                await answer.aclose()
            self.requests.throttled_seconds += state.upcoming_sleep
            request.headers["Retry-Attempt"] = str(state.attempt_number)

        retrying = AsyncRetrying(
            retry=retry_if_exception(again) | retry_if_result(answer_again),
            stop=(
                stop_after_attempt(self.policy.max_attempts)
                | stop_when_retry_after_exceeds(self.policy.max_retry_after)
            ),
            wait=wait_retry_after(
                wait_random_exponential(multiplier=self.policy.backoff_base, max=self.policy.backoff_cap)
            ),
            sleep=self.sleep,
            before_sleep=before_sleep,
            retry_error_callback=_last_outcome,
        )
        response: httpx.Response = await retrying(attempt)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _last_outcome(state: RetryCallState) -> httpx.Response:
    """When retries end, the caller gets the last answer (the SDK raises it as an ODataError) or its exception."""
    assert state.outcome is not None
    response: httpx.Response = state.outcome.result()
    return response
