"""How a request reaches Google: a thread per call, one delegated user's budget, retries, and counting.

google-api-python-client is synchronous and its httplib2 transport is not thread-safe, so each call runs in a
worker thread of a bounded pool (``maxConcurrentRequests``) with that thread's own ``httplib2.Http``
(docs/thread_safety.md of the library). Around every call:

- at most ``maxConcurrentPerCalendar`` requests in flight per calendar;
- ONE budget per delegated user, shared by every room under it: Google counts 600 requests per minute per user
  in a sliding one-minute window, so the budget keeps the last minute's send times and waits before going over;
  a throttling answer pauses every room of that user, not just the one that got it;
- 403 ``rateLimitExceeded``/``userRateLimitExceeded``, 429, 5xx and dropped connections are retried with
  exponential back-off and full jitter (tenacity), because Google sends no ``Retry-After`` and the client library
  honours none. Every request the connector sends is idempotent (reads, writes with ``If-Match``, inserts with a
  client-supplied id), so every one may be repeated; a repeated write whose first answer was lost comes back as
  409 (insert) or 412 (patch) and is handled as such;
- every HTTP request, token requests and retries included (httplib2's own silent repeat of a request whose
  kept-alive connection dropped too), is counted per (room, operation, status) in
  :class:`~roomsync.connectors.base.RequestCounts`.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit

import google_auth_httplib2
import httplib2
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

from roomsync.connectors.base import BackendError, RequestCounts
from roomsync.connectors.google.errors import google_errors, is_retryable, is_throttling

T = TypeVar("T")
#: The room (key) and operation of the request being sent, and the counters it goes to (copied into the worker
#: thread with the rest of the context).
current_room: contextvars.ContextVar[str] = contextvars.ContextVar("roomsync_google_room", default="")
current_operation: contextvars.ContextVar[str] = contextvars.ContextVar("roomsync_google_operation", default="")
current_counts: contextvars.ContextVar[tuple[RequestCounts, threading.Lock] | None] = contextvars.ContextVar(
    "roomsync_google_counts", default=None
)


def _count(status: str | int) -> None:
    target = current_counts.get()
    if target is not None:
        counts, lock = target
        with lock:
            counts.add(current_room.get(), current_operation.get() or "token", status)


def _counting(base: Any) -> Any:
    """An httplib2 connection class that counts each answer it reads. Counting here, not around
    ``Http.request``, also counts the silent second attempt httplib2 makes when a kept-alive connection drops."""

    class Counting(base):  # type: ignore[misc]
        def getresponse(self) -> Any:
            try:
                response = super().getresponse()
            except Exception:
                _count("error")
                raise
            _count(response.status)
            return response

    return Counting


_CONNECTIONS = {
    "http": _counting(httplib2.HTTPConnectionWithTimeout),
    "https": _counting(httplib2.HTTPSConnectionWithTimeout),
}


class CountingHttp(httplib2.Http):  # type: ignore[misc]
    """``httplib2.Http`` whose connections count every request they send (each attempt, each token request)."""

    def request(self, uri: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("connection_type") is None:
            kwargs["connection_type"] = _CONNECTIONS["https" if uri.startswith("https:") else "http"]
        return super().request(uri, method, *args, **kwargs)


class Budget:
    """One delegated user's requests in a sliding window, and a shared pause after a throttling answer."""

    def __init__(
        self,
        per_minute: int,
        *,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limit, self.window, self.clock, self.sleep = per_minute, window, clock, sleep
        self.sent: deque[float] = deque()
        self.paused_until = 0.0
        self.waited = 0.0

    async def take(self) -> None:
        while True:
            now = self.clock()
            while self.sent and self.sent[0] <= now - self.window:
                self.sent.popleft()
            wait = self.paused_until - now
            if len(self.sent) >= self.limit:
                wait = max(wait, self.sent[0] + self.window - now)
            if wait <= 0:
                self.sent.append(now)
                return
            self.waited += wait
            await self.sleep(wait)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)


class Caller:
    """Runs google-api-python-client requests for one Connection (one delegated user)."""

    def __init__(
        self,
        credentials: Any,
        counts: RequestCounts,
        *,
        max_concurrent: int,
        per_calendar: int,
        per_minute: int,
        max_attempts: int,
        backoff_base: float,
        max_backoff: float,
        timeout: float,
        token_uri: str = "",
    ) -> None:
        self.credentials = credentials
        self.token_uri = token_uri
        self.counts = counts
        self.per_calendar = per_calendar
        self.max_attempts, self.backoff_base, self.max_backoff, self.timeout = (
            max_attempts,
            backoff_base,
            max_backoff,
            timeout,
        )
        self.budget = Budget(per_minute)
        self.executor = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="roomsync-google")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._token_lock: asyncio.Lock | None = None
        self._token_requests = 0  # token requests done: a caller that saw fewer waited for the last one
        self._token_failure: BackendError | None = None

    def http(self) -> google_auth_httplib2.AuthorizedHttp:
        """This thread's own authorized transport (httplib2 is not thread-safe)."""
        http = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = google_auth_httplib2.AuthorizedHttp(
                self.credentials, http=CountingHttp(timeout=self.timeout)
            )
        return http

    async def _in_thread(self, function: Callable[[], T]) -> T:
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self.executor, context.run, function)

    async def _fresh_token(self) -> None:
        """One token request at a time, before the threads need it (they would each ask otherwise). The calls that
        waited for a token request that failed get its error without asking again: a dead or refusing token endpoint
        costs one attempt per cycle, not one per room."""
        if self.credentials.valid:
            return
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        requests_seen = self._token_requests
        async with self._token_lock:
            if self.credentials.valid:
                return
            if self._token_requests != requests_seen and self._token_failure is not None:
                raise self._token_failure
            token = current_operation.set("token")
            room = current_room.set("")
            counts = current_counts.set((self.counts, self._lock))
            try:
                request = google_auth_httplib2.Request(CountingHttp(timeout=self.timeout))
                with google_errors("token request", self.token_uri):
                    await self._in_thread(lambda: self.credentials.refresh(request))
            except BackendError as failure:
                self._token_failure = failure
                raise
            else:
                self._token_failure = None
            finally:
                self._token_requests += 1
                current_operation.reset(token)
                current_room.reset(room)
                current_counts.reset(counts)

    def _before_sleep(self, state: RetryCallState) -> None:
        outcome = state.outcome
        wait = state.next_action.sleep if state.next_action else 0.0
        if outcome is not None and is_throttling(outcome.exception() or Exception()):
            self.budget.pause(wait)  # every room of this user waits, not only the one throttled
            self.counts.throttled_seconds += wait

    async def call(self, room: str, calendar: str, operation: str, request: Any, what: str) -> Any:
        """Execute one API request (``service.events().list(...)`` etc.) with the budget, slots and retries."""
        slot = self._slots.setdefault(calendar, asyncio.Semaphore(self.per_calendar))
        room_token, op_token = current_room.set(room), current_operation.set(operation)
        counts_token = current_counts.set((self.counts, self._lock))
        try:
            with google_errors(what, _origin(getattr(request, "uri", ""))):
                retrying = AsyncRetrying(
                    stop=stop_after_attempt(self.max_attempts),
                    wait=wait_random_exponential(multiplier=self.backoff_base, max=self.max_backoff),
                    retry=retry_if_exception(is_retryable),
                    before_sleep=self._before_sleep,
                    reraise=True,
                )
                result: Any = None
                async for attempt in retrying:
                    with attempt:
                        async with slot:
                            await self.budget.take()
                            await self._fresh_token()
                            result = await self._in_thread(lambda: request.execute(http=self.http(), num_retries=0))
                return result
        finally:
            current_room.reset(room_token)
            current_operation.reset(op_token)
            current_counts.reset(counts_token)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _origin(uri: str) -> str:
    """``https://www.googleapis.com`` of a request's URI: where it goes, without the ids and tokens of its path."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
