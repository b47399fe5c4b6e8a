"""How long to wait before trying a request again: one rule, on tenacity, for every connector's HTTP stack.

A server that says how long to wait is obeyed: a ``Retry-After`` header on the answer (whole seconds, fractional
seconds as in Microsoft's own throttling sample, or an HTTP date) or a ``retry_after`` a connector put on the
exception it raised from such an answer, plus a little jitter so callers that were throttled together do not come
back together. Without one, the fallback wait applies (exponential back-off, usually with full jitter). A server that
asks for more than the caller is willing to wait ends the retries (:class:`stop_when_retry_after_exceeds`): the next
cycle tries again.

*What* is retried stays the caller's decision, because only the caller knows whether a request is safe to repeat:
reads, writes with a precondition or an idempotency key. A non-idempotent write is never repeated blindly.
"""

from __future__ import annotations

import email.utils
import random
import time
from typing import Any

from tenacity import RetryCallState
from tenacity.stop import stop_base
from tenacity.wait import wait_base


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait: ``2``, ``2.128`` or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
        return max(0.0, seconds) if seconds == seconds else None  # NaN guard
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def retry_after_of(retry_state: RetryCallState) -> float | None:
    """What the last attempt's answer asked for: an exception's ``retry_after``, or the ``Retry-After`` header of a
    returned response (anything with ``headers``)."""
    outcome = retry_state.outcome
    if outcome is None:
        return None
    if outcome.failed:
        hint = getattr(outcome.exception(), "retry_after", None)
        return float(hint) if isinstance(hint, int | float) else None
    headers: Any = getattr(outcome.result(), "headers", None)
    return parse_retry_after(headers.get("Retry-After")) if headers is not None else None


class wait_retry_after(wait_base):
    """The server's ``Retry-After`` plus up to ``jitter`` of it (at most ``max_jitter`` seconds), else ``fallback``."""

    def __init__(self, fallback: wait_base, *, jitter: float = 0.1, max_jitter: float = 0.25) -> None:
        self.fallback = fallback
        self.jitter = jitter
        self.max_jitter = max_jitter

    def __call__(self, retry_state: RetryCallState) -> float:
        asked = retry_after_of(retry_state)
        if asked is None:
            return float(self.fallback(retry_state))
        return asked + random.uniform(0, min(self.max_jitter, asked * self.jitter))


class stop_when_retry_after_exceeds(stop_base):
    """Give up when the server asks to wait longer than ``limit`` seconds."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        asked = retry_after_of(retry_state)
        return asked is not None and asked > self.limit
