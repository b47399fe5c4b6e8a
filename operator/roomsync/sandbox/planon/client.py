"""A small client for the sandbox's admin endpoints: what the scenario suite and ``roomsync demo`` use.

Times are aware ``datetime`` values (or ISO strings with an offset); answers are the admin JSON views
(``syscode``, ``unit``, ``start``/``end`` in UTC ISO, ``description``, ``state``, ``requestor``, ``fields`` ...).
Planon's refusals arrive as :class:`SandboxRefused` with the ``PN_`` code and the message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import aiohttp


class SandboxRefused(Exception):
    """The sandbox refused an admin action (as Planon would, e.g. the room is taken)."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.status = status
        self.code = code
        self.description = description


def _iso(value: datetime | str) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("times for the sandbox must be timezone-aware")
        return value.isoformat()
    return value


class SandboxAdmin:
    """Async admin client; ``root_url`` is the sandbox root (``PlanonSandbox.root_url``)."""

    def __init__(self, root_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.root_url = root_url.rstrip("/")
        self._session = session
        self._own_session = session is None

    async def _call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, query: Mapping[str, str] | None = None
    ) -> Any:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
            self._own_session = True
        async with self._session.request(
            method, f"{self.root_url}/_admin{path}", json=body, params=query or {}
        ) as resp:
            payload = await resp.json(content_type=None)
            if resp.status >= 400:
                error = (payload or {}).get("errors") or [{"code": str(resp.status), "description": resp.reason}]
                raise SandboxRefused(resp.status, error[0].get("code", ""), error[0].get("description", ""))
            return payload

    async def aclose(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    # -- a person at a Planon touchpoint ---------------------------------------------------------------------------
    async def book(
        self,
        units: str | Sequence[str],
        start: datetime | str,
        end: datetime | str,
        subject: str,
        *,
        requestor: str | None = None,
        external_requestor: str | None = None,
        recurrence: str | None = None,
        state: str = "UsrReservationConfirmed",
    ) -> list[dict[str, Any]]:
        """A person books at a touchpoint: one reservation per unit; ``recurrence`` (an RRULE with COUNT or UNTIL)
        is Planon's "Make recurrent", one reservation per occurrence sharing ``recurrentReservation``."""
        body: dict[str, Any] = {
            "units": [units] if isinstance(units, str) else list(units),
            "start": _iso(start),
            "end": _iso(end),
            "subject": subject,
            "state": state,
        }
        for key, value in (
            ("requestor", requestor),
            ("externalRequestor", external_requestor),
            ("recurrence", recurrence),
        ):
            if value is not None:
                body[key] = value
        return list((await self._call("POST", "/book", body))["reservations"])

    async def edit(
        self,
        syscode: int,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        subject: str | None = None,
        unit: str | None = None,
        fields: Mapping[str, str | None] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"syscode": syscode}
        if start is not None:
            body["start"] = _iso(start)
        if end is not None:
            body["end"] = _iso(end)
        if subject is not None:
            body["subject"] = subject
        if unit is not None:
            body["unit"] = unit
        if fields:
            body["fields"] = dict(fields)
        return dict((await self._call("POST", "/edit", body))["reservations"][0])

    async def cancel(self, syscode: int | Sequence[int], *, state: str | None = None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"syscode": syscode} if isinstance(syscode, int) else {"syscodes": list(syscode)}
        if state is not None:
            body["state"] = state
        return list((await self._call("POST", "/cancel", body))["reservations"])

    async def reservations(self, unit: str | None = None, *, state: str | None = None) -> list[dict[str, Any]]:
        query = {k: v for k, v in (("unit", unit), ("state", state)) if v is not None}
        return list((await self._call("GET", "/reservations", query=query))["reservations"])

    # -- set-up, inspection, faults --------------------------------------------------------------------------------
    async def seed(self, seed: Mapping[str, Any]) -> dict[str, int]:
        return dict((await self._call("POST", "/seed", seed))["added"])

    async def reset(self) -> None:
        await self._call("POST", "/reset")

    async def state(self) -> dict[str, Any]:
        return dict(await self._call("GET", "/state"))

    async def requests(self) -> dict[str, int]:
        return dict((await self._call("GET", "/requests"))["requests"])

    async def reset_requests(self) -> None:
        await self._call("DELETE", "/requests")

    async def fault(self, kind: str, op: str = "*", **options: Any) -> None:
        """Arm a fault (see :mod:`roomsync.sandbox.planon.faults`), e.g. ``fault("status", "read", status=503)``."""
        await self._call("POST", "/faults", {"kind": kind, "op": op, **options})

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/faults")

    async def set_latency(self, seconds: float) -> None:
        await self._call("PUT", "/latency", {"seconds": seconds})

    async def corrupt(self, syscode: int, field: str, value: Any) -> None:
        """Make reads return ``value`` for ``field`` of this reservation (malformed data for reader tests)."""
        await self._call("POST", "/corrupt", {"syscode": syscode, "field": field, "value": value})

    async def expire_tokens(self) -> int:
        return int((await self._call("POST", "/tokens/expire"))["expired"])


class SandboxAdminSync:
    """The same calls for synchronous code (CLI, scripts): each call runs on a short-lived event loop."""

    def __init__(self, root_url: str) -> None:
        self.root_url = root_url

    def __getattr__(self, name: str) -> Any:
        method = getattr(SandboxAdmin, name, None)
        if method is None or name.startswith("_") or name == "aclose":
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            async def run() -> Any:
                client = SandboxAdmin(self.root_url)
                try:
                    return await getattr(client, name)(*args, **kwargs)
                finally:
                    await client.aclose()

            return asyncio.run(run())

        return call
