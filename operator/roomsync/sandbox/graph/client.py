"""A small client for the sandbox's admin API, for tests, the scenario suite and the demo.

It talks HTTP(S) like any other process would, so scenarios can drive a sandbox started elsewhere
(``roomsync sandbox``) as well as an in-process :class:`~roomsync.sandbox.graph.server.GraphSandbox`.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import aiohttp

from roomsync.sandbox.graph.model import PARAMETERS


class SandboxError(RuntimeError):
    """The admin API refused a request."""


def _iso(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("admin times must be timezone-aware")
    return value.isoformat()


class SandboxAdmin:
    """``book_in_outlook``, ``edit``, ``cancel``, ``room_events``, ``set_processing``, fault injection, counters."""

    def __init__(self, origin: str, ca_pem: str | None = None) -> None:
        self.origin = origin.rstrip("/")
        self._ssl = ssl.create_default_context(cadata=ca_pem) if ca_pem else None
        self._session: aiohttp.ClientSession | None = None

    async def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._ssl or True))
        async with self._session.request(method, f"{self.origin}/_admin/{path}", json=body) as response:
            data = await response.json(content_type=None)
            if response.status >= 400:
                raise SandboxError(f"{method} {path}: {response.status} {data}")
            return data

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- rooms -----------------------------------------------------------------------------------------------------
    async def add_room(
        self,
        address: str,
        name: str | None = None,
        *,
        capacity: int | None = None,
        time_zone: str = "",
        **processing: Any,
    ) -> None:
        await self._call(
            "POST",
            "rooms",
            {
                "address": address,
                "name": name,
                "capacity": capacity,
                "timeZone": time_zone,
                "processing": _processing(processing),
            },
        )

    async def set_time_zone(self, room: str, time_zone: str) -> None:
        """Set-MailboxRegionalConfiguration -TimeZone (a Windows or IANA name; "" = never set)."""
        await self._call("PUT", f"rooms/{room}/regional", {"timeZone": time_zone})

    async def set_processing(self, room: str, mode: str | None = None, **settings: Any) -> dict[str, Any]:
        """``mode`` is AutomateProcessing (AutoAccept / AutoUpdate / None); settings e.g. allow_conflicts=True."""
        body = _processing(settings)
        if mode is not None:
            body["AutomateProcessing"] = mode
        result: dict[str, Any] = await self._call("PUT", f"rooms/{room}/processing", body)
        return result

    async def room_events(self, room: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", f"rooms/{room}/events")
        return result

    async def room_inbox(self, room: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", f"rooms/{room}/inbox")
        return result

    # -- a person in Outlook -------------------------------------------------------------------------------------------
    async def book_in_outlook(
        self,
        organizer: str,
        rooms: Iterable[str],
        subject: str,
        start: datetime | str,
        end: datetime | str,
        attendees: Iterable[str] = (),
        *,
        optional: Iterable[str] = (),
        recurrence: Mapping[str, Any] | None = None,
        time_zone: str = "UTC",
        organizer_name: str | None = None,
        body: str = "",
        all_day: bool = False,
    ) -> str:
        """The organizer sends a meeting request to the rooms; returns the meeting's iCalUId.

        ``all_day``: an all-day event; ``start``/``end`` are then midnights in ``time_zone``.
        """
        payload: dict[str, Any] = {
            "organizer": organizer,
            "organizerName": organizer_name,
            "rooms": list(rooms),
            "attendees": list(attendees),
            "optional": list(optional),
            "subject": subject,
            "start": _iso(start),
            "end": _iso(end),
            "timeZone": time_zone,
            "body": body,
        }
        if all_day:
            payload["allDay"] = True
        if recurrence is not None:
            payload["recurrence"] = dict(recurrence)
        result = await self._call("POST", "outlook/book", payload)
        return str(result["iCalUId"])

    async def edit(self, ical_uid: str, **changes: Any) -> dict[str, Any]:
        """The organizer changes the meeting: subject, start, end, rooms, attendees, optional, recurrence, body."""
        body: dict[str, Any] = {"iCalUId": ical_uid}
        for key, value in changes.items():
            body[key] = _iso(value) if key in ("start", "end") else value
        result: dict[str, Any] = await self._call("POST", "outlook/edit", body)
        return result

    async def cancel(self, ical_uid: str, comment: str = "") -> None:
        await self._call("POST", "outlook/cancel", {"iCalUId": ical_uid, "comment": comment})

    async def edit_occurrence(self, ical_uid: str, original_start: datetime, **changes: Any) -> None:
        body = {"iCalUId": ical_uid, "originalStart": _iso(original_start)}
        body.update({k: _iso(v) if k in ("start", "end") else v for k, v in changes.items()})
        await self._call("POST", "outlook/occurrence", body)

    async def cancel_occurrence(self, ical_uid: str, original_start: datetime) -> None:
        await self._call(
            "POST", "outlook/occurrence", {"iCalUId": ical_uid, "originalStart": _iso(original_start), "cancel": True}
        )

    # -- traffic and faults ------------------------------------------------------------------------------------------
    async def requests(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "requests")
        return result

    async def reset_requests(self) -> None:
        await self._call("DELETE", "requests")

    async def log(self, mailbox: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", f"log?mailbox={mailbox}" if mailbox else "log")
        return result

    async def mail(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", "mail")
        return result

    async def inject(
        self,
        status: int | None = None,
        *,
        count: int = 1,
        mailbox: str | None = None,
        method: str | None = None,
        path_contains: str | None = None,
        retry_after: str | float | None = None,
        delay: float = 0.0,
        reset: bool = False,
        after: bool = False,
        malformed: bool = False,
    ) -> None:
        """Make the next ``count`` matching requests fail (429/503/504...), stall, reset or answer broken JSON."""
        await self._call(
            "POST",
            "faults",
            {
                "status": status,
                "count": count,
                "mailbox": mailbox,
                "method": method,
                "pathContains": path_contains,
                "retryAfter": None if retry_after is None else str(retry_after),
                "delay": delay,
                "reset": reset,
                "after": after,
                "malformed": malformed,
            },
        )

    async def edit_before_next(self, ical_uid: str, *, mailbox: str, method: str = "PATCH", **changes: Any) -> None:
        """A person changes the meeting (as :meth:`edit`) just before the next ``method`` request to ``mailbox`` is
        processed: an edit between RoomSync's read and its write."""
        edit: dict[str, Any] = {"iCalUId": ical_uid}
        edit.update({k: _iso(v) if k in ("start", "end") else v for k, v in changes.items()})
        await self._call("POST", "faults", {"mailbox": mailbox, "method": method, "edit": edit})

    async def clear_faults(self) -> None:
        await self._call("DELETE", "faults")

    async def set_latency(self, seconds: float) -> None:
        await self._call("PUT", "latency", {"seconds": seconds})

    async def set_concurrency(self, limit: int, retry_after: str = "1") -> None:
        await self._call("PUT", "concurrency", {"limit": limit, "retryAfter": retry_after})

    async def register_app(
        self,
        client_id: str,
        *,
        secret: str | None = None,
        certificate_pem: str | None = None,
        federated_token: str | None = None,
    ) -> None:
        await self._call(
            "POST",
            "apps",
            {
                "clientId": client_id,
                "secret": secret,
                "certificatePem": certificate_pem,
                "federatedToken": federated_token,
            },
        )

    async def expire_tokens(self, client_id: str | None = None) -> None:
        await self._call("POST", "tokens/expire", {"clientId": client_id})

    async def revoke_credentials(self, client_id: str | None = None) -> None:
        await self._call("POST", "credentials/revoke", {"clientId": client_id})

    async def expire_delta_tokens(self, mailbox: str | None = None) -> int:
        result = await self._call("POST", "delta/expire", {"mailbox": mailbox})
        return int(result["expired"])

    async def set_clock(self, now: datetime | None) -> None:
        """The tenant's "now" (room booking windows count from it); None: the wall clock."""
        await self._call("PUT", "clock", {"now": None if now is None else _iso(now)})

    async def set_delta_full_objects(self, full: bool) -> None:
        """Delta updates with whole events (True) or, as Graph promises, only what changed (False, the default)."""
        await self._call("PUT", "delta", {"fullObjects": full})

    async def set_delta_extended_properties(self, on: bool) -> None:
        """Delta entries with the events' extended properties (True), which Graph's delta does not return (False,
        the default)."""
        await self._call("PUT", "delta", {"extendedProperties": on})

    async def set_budget(self, requests: int, seconds: float = 600.0) -> None:
        """The request budget per app and mailbox (Exchange Online: 10,000 per 600 seconds)."""
        await self._call("PUT", "budget", {"requests": requests, "seconds": seconds})

    async def set_scope(self, mailboxes: Iterable[str] | None) -> None:
        """Restrict the app to these mailboxes (RBAC for Applications); others answer 403 ErrorAccessDenied."""
        await self._call("PUT", "scope", {"mailboxes": None if mailboxes is None else list(mailboxes)})


def _processing(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments (``allow_conflicts=True``, ``booking_window_days=30``, ``mode=...``) as Set-CalendarProcessing
    parameters."""
    names = {attr: name for name, attr in PARAMETERS.items()} | {"mode": "AutomateProcessing"}
    names["automate_processing"] = "AutomateProcessing"
    return {names.get(k, k): v for k, v in settings.items() if v is not None}
