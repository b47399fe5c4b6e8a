"""A small client for the Google sandbox's admin API, for tests, the scenario suite, benchmarks and the demo.

It talks HTTP like any other process, so it drives a sandbox started elsewhere (``roomsync sandbox --calendar
google``) as well as an in-process :class:`~roomsync.sandbox.google.server.GoogleSandbox`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import aiohttp


class SandboxError(RuntimeError):
    """The admin API refused a request."""


def _iso(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("admin times must be timezone-aware")
    return value.isoformat()


class SandboxAdmin:
    def __init__(self, origin: str) -> None:
        self.origin = origin.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.request(method, f"{self.origin}/_admin/{path}", json=body) as response:
            data = await response.json(content_type=None)
            if response.status >= 400:
                raise SandboxError(f"{method} {path}: {response.status} {data}")
            return data

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- rooms -------------------------------------------------------------------------------------------------
    async def add_rooms(self, rooms: Iterable[Mapping[str, Any]]) -> None:
        """``{"email", "name", "capacity", "building", "floor", "features", "booking", "autoReplace", "timeZone"}``"""
        await self.call("POST", "rooms", {"rooms": [dict(r) for r in rooms]})

    async def set_room(self, email: str, **settings: Any) -> None:
        await self.call("POST", "rooms", {"rooms": [{"email": email, **settings}]})

    async def events(self, calendar: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.call("GET", f"calendars/{calendar}/events")
        return result

    async def answer_as_manager(self, room: str, ical_uid: str, response: str, comment: str = "") -> None:
        await self.call("POST", f"rooms/{room}/answer", {"iCalUID": ical_uid, "response": response, "comment": comment})

    # -- a person in Google Calendar ---------------------------------------------------------------------------
    async def book(
        self,
        organizer: str,
        rooms: Iterable[str],
        subject: str,
        start: datetime | str,
        end: datetime | str,
        attendees: Iterable[str] = (),
        *,
        optional: Iterable[str] = (),
        recurrence: Iterable[str] = (),
        time_zone: str = "UTC",
        all_day: bool = False,
        organizer_name: str | None = None,
        guests_can_modify: bool = False,
    ) -> str:
        """The organizer books the rooms in Google Calendar; returns the meeting's iCalUID. ``guests_can_modify``:
        the organizer lets guests (the rooms, and so RoomSync) change the meeting."""
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
            "allDay": all_day,
            "recurrence": list(recurrence),
            "guestsCanModify": guests_can_modify,
        }
        return str((await self.call("POST", "person/book", payload))["iCalUID"])

    async def edit(self, ical_uid: str, **changes: Any) -> dict[str, Any]:
        """subject, start, end, timeZone, rooms, attendees, optional, recurrence (lines), seriesStart."""
        body = {
            "iCalUID": ical_uid,
            **{k: _iso(v) if k in ("start", "end", "seriesStart") else v for k, v in changes.items()},
        }
        result: dict[str, Any] = await self.call("POST", "person/edit", body)
        return result

    async def cancel(self, ical_uid: str, series_start: datetime | None = None) -> None:
        body: dict[str, Any] = {"iCalUID": ical_uid}
        if series_start is not None:
            body["seriesStart"] = _iso(series_start)
        await self.call("POST", "person/cancel", body)

    async def edit_occurrence(self, ical_uid: str, original_start: datetime, **changes: Any) -> None:
        body = {"iCalUID": ical_uid, "originalStart": _iso(original_start)}
        body.update({k: _iso(v) if k in ("start", "end") else v for k, v in changes.items()})
        await self.call("POST", "person/occurrence", body)

    async def cancel_occurrence(self, ical_uid: str, original_start: datetime) -> None:
        await self.call(
            "POST", "person/occurrence", {"iCalUID": ical_uid, "originalStart": _iso(original_start), "cancel": True}
        )

    async def split(self, ical_uid: str, original_start: datetime, **changes: Any) -> dict[str, Any]:
        """ "This and following": returns the new series' ``id`` and ``iCalUID``."""
        body = {"iCalUID": ical_uid, "originalStart": _iso(original_start)}
        body.update({k: _iso(v) if k in ("start", "end") else v for k, v in changes.items()})
        result: dict[str, Any] = await self.call("POST", "person/split", body)
        return result

    # -- traffic, faults, knobs ------------------------------------------------------------------------------------
    async def responses(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.call("GET", "responses")
        return result

    async def requests(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", "requests")
        return result

    async def reset_requests(self) -> None:
        await self.call("DELETE", "requests")

    async def log(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.call("GET", "log")
        return result

    async def inject(
        self,
        status: int | None = None,
        *,
        reason: str | None = None,
        count: int = 1,
        calendar: str | None = None,
        method: str | None = None,
        path_contains: str | None = None,
        delay: float = 0.0,
        after: bool = False,
    ) -> None:
        """The next ``count`` matching requests fail with ``status``/``reason``, stall, or lose their answer."""
        await self.call(
            "POST",
            "faults",
            {
                "status": status,
                "reason": reason,
                "count": count,
                "calendar": calendar,
                "method": method,
                "pathContains": path_contains,
                "delay": delay,
                "after": after,
            },
        )

    async def clear_faults(self) -> None:
        await self.call("DELETE", "faults")

    async def settings(self, **values: Any) -> dict[str, Any]:
        """The [unconfirmed]-behaviour settings (see :class:`~roomsync.sandbox.google.model.Settings`)."""
        result: dict[str, Any] = (
            await self.call("PUT", "settings", values) if values else await self.call("GET", "settings")
        )
        return result

    async def set_quota(
        self, per_user: int | None, per_project: int | None = None, window_seconds: float = 60.0
    ) -> None:
        await self.call(
            "PUT", "quota", {"perUser": per_user, "perProject": per_project, "windowSeconds": window_seconds}
        )

    async def set_latency(self, seconds: float) -> None:
        await self.call("PUT", "latency", {"seconds": seconds})

    async def set_room_writers(self, users: Iterable[str] | None) -> None:
        await self.call("PUT", "access", {"roomWriters": None if users is None else list(users)})

    async def expire_sync_tokens(self, calendar: str | None = None) -> list[str]:
        result: list[str] = (await self.call("POST", "sync/expire", {"calendar": calendar}))["expired"]
        return result

    async def expire_tokens(self) -> None:
        await self.call("POST", "tokens/expire", {})

    async def tokens(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.call("GET", "tokens")
        return result
