"""Deliveries an emulated vendor makes to a subscriber (Graph change notifications, Google push messages, a Planon
Event Connector's outbound messages), with the faults a test needs to prove nothing is lost.

What every vendor does alike: POST to an HTTPS address it was given, with a time-out, retried with growing delays
when the subscriber does not acknowledge (each vendor module says which statuses count as acknowledged and which
are retried). The retry schedule is the emulator's: the vendors retry for hours; here the delays are short and
configurable so tests run in seconds.

Faults, each for the next ``count`` deliveries (``POST /_admin/notifications/faults``, :func:`delivery_admin_routes`):

- ``drop``: never sent (a vendor losing a notification - Google says "expect a small percentage to get dropped");
- ``delay``: sent ``seconds`` later;
- ``duplicate``: sent twice (at-least-once delivery);
- ``reorder``: held until ``count`` are held, then sent newest first.

Trust: the subscriber's certificate is checked against the system store plus the CAs given to :meth:`trust` (a
test's CA); verification is never switched off.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

DEFAULT_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)
FAULT_MODES = ("drop", "delay", "duplicate", "reorder")


@dataclass
class Delivery:
    """One message to send: where, what, and the label tests and logs know it by."""

    url: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    label: str = ""


@dataclass
class Fault:
    mode: str
    count: int = 1
    seconds: float = 0.0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        mode = str(data.get("mode") or "")
        if mode not in FAULT_MODES:
            raise ValueError(f"mode must be one of {', '.join(FAULT_MODES)}, got {mode!r}")
        count = int(data.get("count", 1))
        if count < 1:
            raise ValueError("count must be at least 1")
        return cls(mode, count, float(data.get("seconds", 0.0)))


class Outbound:
    """Sends deliveries in the background; ``acknowledged(status)`` says which answers end the retries."""

    def __init__(
        self,
        acknowledged: Callable[[int], bool],
        retried: Callable[[int], bool],
        *,
        timeout: float = 10.0,
        retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        self.acknowledged = acknowledged
        self.retried = retried
        self.timeout = timeout
        self.retry_delays = retry_delays
        self.faults: list[Fault] = []
        #: every attempt: {label, url, status (or an error name), attempt, at, fault}
        self.log: list[dict[str, Any]] = []
        self._cas: list[str] = []
        self._held: list[Delivery] = []
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- configuration ------------------------------------------------------------------------------------------
    def trust(self, ca_pem: str) -> None:
        if ca_pem not in self._cas:
            self._cas.append(ca_pem)
        if self._session is not None:
            old, self._session = self._session, None
            self._spawn(old.close())

    def add_fault(self, fault: Fault) -> None:
        self.faults.append(fault)

    def clear_faults(self) -> None:
        self.faults.clear()
        held, self._held = self._held, []
        for delivery in held:
            self._spawn(self._attempts(delivery))

    # -- sending --------------------------------------------------------------------------------------------------
    def send(self, delivery: Delivery) -> None:
        """Queue one delivery (returns at once, like a vendor's notification pipeline)."""
        fault = self._take_fault()
        if fault is None:
            self._spawn(self._attempts(delivery))
            return
        self.log.append({"label": delivery.label, "url": delivery.url, "fault": fault.mode, "at": time.time()})
        if fault.mode == "drop":
            return
        if fault.mode == "duplicate":
            self._spawn(self._attempts(delivery))
            self._spawn(self._attempts(delivery))
        elif fault.mode == "delay":
            self._spawn(self._attempts(delivery, after=fault.seconds))
        else:  # reorder: hold until the fault's last delivery, then send newest first
            self._held.append(delivery)
            if fault.count == 0:
                held, self._held = self._held, []
                for later in reversed(held):
                    self._spawn(self._attempts(later))

    def _take_fault(self) -> Fault | None:
        if not self.faults:
            return None
        fault = self.faults[0]
        fault.count -= 1
        if fault.count == 0:
            self.faults.pop(0)
        return fault

    async def call(self, delivery: Delivery) -> tuple[int, str]:
        """One synchronous request (Graph's validation handshake): the status and the body's text."""
        session = self._client()
        async with session.post(
            delivery.url,
            data=delivery.body,
            headers=dict(delivery.headers),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        ) as response:
            return response.status, await response.text()

    async def _attempts(self, delivery: Delivery, *, after: float = 0.0) -> None:
        if after:
            await asyncio.sleep(after)
        for attempt, delay in enumerate((*self.retry_delays, None), start=1):
            try:
                status, _ = await self.call(delivery)
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                outcome: int | str = type(error).__name__
                status = 0
            else:
                outcome = status
            self.log.append(
                {"label": delivery.label, "url": delivery.url, "status": outcome, "attempt": attempt, "at": time.time()}
            )
            if self.acknowledged(status) or (status and not self.retried(status)) or delay is None:
                return
            await asyncio.sleep(delay)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            context = ssl.create_default_context()
            for pem in self._cas:
                context.load_verify_locations(cadata=pem)
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
        return self._session

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until nothing is being sent (tests bound it with ``asyncio.timeout``)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None


def delivery_admin_routes(
    outbound: Outbound,
    *,
    trust: Callable[[str], None] | None = None,
    log: Callable[[], list[dict[str, Any]]] | None = None,
) -> list[web.RouteDef]:
    """The admin routes of a vendor's notification deliveries, alike for every vendor that sends them:

    - ``PUT /_admin/notifications/trust {ca}``: which notification URLs (CA) the sandbox trusts when it delivers;
    - ``POST /_admin/notifications/faults {mode, count, seconds?}``: make the next deliveries fail (400 naming the
      field when the fault is not understood); ``DELETE`` the same path removes every armed fault;
    - ``GET /_admin/notifications/log``: the deliveries made so far and their answers.

    ``trust`` and ``log`` default to ``outbound``'s own; a vendor that delivers through more than one
    :class:`Outbound` (Graph validates a notification URL before it subscribes) passes what covers them all.
    """
    trusting = trust or outbound.trust
    logged = log or (lambda: outbound.log)

    async def set_trust(request: web.Request) -> web.Response:
        """Which notification URLs (CA) the sandbox trusts when it delivers."""
        trusting(str((await request.json()).get("ca") or ""))
        return web.json_response({"ok": True})

    async def add_fault(request: web.Request) -> web.Response:
        """Make the next notification deliveries fail (lost, slow, refused ...)."""
        try:
            outbound.add_fault(Fault.from_json(await request.json()))
        except (ValueError, TypeError) as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response({"ok": True})

    async def clear_faults(_: web.Request) -> web.Response:
        """Remove every armed notification fault."""
        outbound.clear_faults()
        return web.json_response({"ok": True})

    async def show_log(_: web.Request) -> web.Response:
        """The notifications sent so far and their answers."""
        return web.json_response(logged())

    return [
        web.put("/_admin/notifications/trust", set_trust),
        web.post("/_admin/notifications/faults", add_fault),
        web.delete("/_admin/notifications/faults", clear_faults),
        web.get("/_admin/notifications/log", show_log),
    ]
