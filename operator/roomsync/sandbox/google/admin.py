"""Admin endpoints under ``/_admin/``, apart from the emulated APIs: rooms and their booking settings, "a person
books rooms in Google Calendar" (book, edit, cancel, change or cancel one occurrence, "this and following"), a room
manager's answer, raw calendar contents, the rooms' answers, request counters, faults, quotas and the
[unconfirmed]-behaviour settings. No authentication: the sandbox listens on loopback.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from roomsync.sandbox.admin_page import AdminIndex
from roomsync.sandbox.google import times
from roomsync.sandbox.google.api import render
from roomsync.sandbox.google.calendars import ApiError
from roomsync.sandbox.google.model import Calendar
from roomsync.sandbox.google.traffic import Fault

if TYPE_CHECKING:
    from roomsync.sandbox.google.server import GoogleSandbox


def _when(value: str, zone: str, all_day: bool) -> dict[str, str]:
    instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=times.tz(zone))
    local = instant.astimezone(times.tz(zone))
    if all_day:
        return {"date": local.date().isoformat()}
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": zone}


def _attendees(data: dict[str, Any]) -> list[dict[str, Any]]:
    result = [{"email": r, "resource": True} for r in data.get("rooms") or []]
    result += [{"email": a} for a in data.get("attendees") or []]
    result += [{"email": a, "optional": True} for a in data.get("optional") or []]
    return result


class AdminApi:
    def __init__(self, sandbox: GoogleSandbox) -> None:
        self.sandbox = sandbox
        self.state = sandbox.state

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/_admin/health", self.health),
            web.post("/_admin/rooms", self.add_rooms),
            web.get("/_admin/rooms", self.list_rooms),
            web.post("/_admin/rooms/{room}/answer", self.manager_answer),
            web.get("/_admin/calendars/{calendar}/events", self.calendar_events),
            web.post("/_admin/person/book", self.book),
            web.post("/_admin/person/edit", self.edit),
            web.post("/_admin/person/cancel", self.cancel),
            web.post("/_admin/person/occurrence", self.occurrence),
            web.post("/_admin/person/split", self.split),
            web.get("/_admin/responses", self.responses),
            web.get("/_admin/requests", self.requests),
            web.delete("/_admin/requests", self.reset_requests),
            web.get("/_admin/log", self.log),
            web.post("/_admin/faults", self.add_fault),
            web.delete("/_admin/faults", self.clear_faults),
            web.get("/_admin/settings", self.get_settings),
            web.put("/_admin/settings", self.put_settings),
            web.put("/_admin/quota", self.put_quota),
            web.put("/_admin/latency", self.put_latency),
            web.put("/_admin/access", self.put_access),
            web.post("/_admin/sync/expire", self.expire_sync),
            web.post("/_admin/tokens/expire", self.expire_tokens),
            web.get("/_admin/tokens", self.tokens),
        ]

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        data = await request.json()
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        return data

    @staticmethod
    def _fail(exc: Exception, status: int = 400) -> web.Response:
        if isinstance(exc, ApiError):
            return web.json_response(exc.body(), status=exc.status)
        return web.json_response({"error": str(exc)}, status=status)

    async def health(self, request: web.Request) -> web.Response:
        """Is the sandbox up: ``{"ok": true}``."""
        return web.json_response({"ok": True})

    # -- rooms ------------------------------------------------------------------------------------------------------
    async def add_rooms(self, request: web.Request) -> web.Response:
        """Add or change room resources: email, name, capacity, booking (autoAccept / addAll), time zone."""
        data = await self._body(request)
        try:
            added = [self.state.add_room(r).id for r in data.get("rooms") or [data]]
        except (ValueError, KeyError) as exc:
            return self._fail(exc)
        return web.json_response({"rooms": added}, status=201)

    async def list_rooms(self, request: web.Request) -> web.Response:
        """The room resources and their booking settings."""
        rooms = [c for c in self.state.calendars.calendars.values() if c.kind == "room"]
        return web.json_response(
            [
                {
                    "email": c.id,
                    "name": c.name,
                    "booking": c.booking,
                    "autoReplace": c.auto_replace,
                    "timeZone": c.time_zone,
                }
                for c in rooms
            ]
        )

    def _calendar(self, name: str) -> Calendar:
        try:
            return self.state.calendars.calendar(name)
        except ApiError:
            raise web.HTTPNotFound(text=f"no calendar {name}") from None

    async def calendar_events(self, request: web.Request) -> web.Response:
        """Everything stored on a calendar, cancelled entries included, private properties shown."""
        calendar = self._calendar(request.match_info["calendar"])
        events = sorted(calendar.events.values(), key=lambda e: (e["_s"], e["id"]))
        return web.json_response([dict(render(calendar, e, stub=False), copy=bool(e.get("_origin"))) for e in events])

    async def manager_answer(self, request: web.Request) -> web.Response:
        """The room's manager answers an invitation by hand (rooms that add all invitations)."""
        room = self._calendar(request.match_info["room"])
        data = await self._body(request)
        copy = next(
            (
                e
                for e in room.events.values()
                if e.get("iCalUID") == data["iCalUID"] and e.get("_origin") and not e.get("recurringEventId")
            ),
            None,
        )
        if copy is None:
            return self._fail(LookupError(f"{room.id} holds no copy of {data['iCalUID']}"), 404)
        self.state.calendars.rooms.answer(
            room, copy, str(data["response"]), str(data.get("comment") or ""), by="manager"
        )
        return web.json_response({"ok": True})

    # -- a person in Google Calendar ---------------------------------------------------------------------------
    def _meeting(self, uid: str, start: str | None = None) -> tuple[Calendar, dict[str, Any]]:
        """The organizer's event of a meeting (the first series when a split kept the iCalUID)."""
        found = [
            (calendar, event)
            for calendar in self.state.calendars.calendars.values()
            for event in calendar.events.values()
            if event.get("iCalUID") == uid
            and not event.get("_origin")
            and not event.get("recurringEventId")
            and event["status"] != "cancelled"
        ]
        if start is not None:
            moment = datetime.fromisoformat(start.replace("Z", "+00:00"))
            found = [(c, e) for c, e in found if e["_s"] == moment] or found
        if not found:
            raise web.HTTPNotFound(text=f"no meeting {uid}")
        return min(found, key=lambda ce: ce[1]["_s"])

    async def book(self, request: web.Request) -> web.Response:
        """A person books rooms in Google Calendar (organizer, rooms, subject, start, end, timeZone, recurrence)."""
        data = await self._body(request)
        zone = str(data.get("timeZone") or "UTC")
        all_day = bool(data.get("allDay"))
        organizer = self.state.user(str(data["organizer"]), zone)
        if data.get("organizerName"):
            organizer.name = str(data["organizerName"])
        body: dict[str, Any] = {
            "summary": data.get("subject", ""),
            "description": data.get("description", ""),
            "start": _when(data["start"], zone, all_day),
            "end": _when(data["end"], zone, all_day),
            "attendees": _attendees(data),
        }
        if data.get("recurrence"):
            body["recurrence"] = list(data["recurrence"])
        if data.get("guestsCanModify"):
            body["guestsCanModify"] = True
        try:
            event = self.state.calendars.insert(organizer, body, creator=organizer.id)
        except (ApiError, times.BadTime) as exc:
            return self._fail(exc)
        return web.json_response({"id": event["id"], "iCalUID": event["iCalUID"], "calendar": organizer.id}, status=201)

    async def edit(self, request: web.Request) -> web.Response:
        """The organizer changes the meeting in Google Calendar (iCalUID and what changes)."""
        data = await self._body(request)
        calendar, event = self._meeting(data["iCalUID"], data.get("seriesStart"))
        zone = str(data.get("timeZone") or event["_tz"])
        patch: dict[str, Any] = {}
        if "subject" in data:
            patch["summary"] = data["subject"]
        for key in ("start", "end"):
            if key in data:
                patch[key] = _when(data[key], zone, event["_allday"])
        if "recurrence" in data:
            patch["recurrence"] = data["recurrence"]
        if {"rooms", "attendees", "optional"} & set(data):
            current = {
                "rooms": [a["email"] for a in event.get("attendees") or [] if a.get("resource")],
                "attendees": [
                    a["email"] for a in event.get("attendees") or [] if not a.get("resource") and not a.get("optional")
                ],
                "optional": [
                    a["email"] for a in event.get("attendees") or [] if not a.get("resource") and a.get("optional")
                ],
            }
            current.update({k: data[k] for k in ("rooms", "attendees", "optional") if k in data})
            patch["attendees"] = _attendees(current)
        try:
            updated = self.state.calendars.patch(calendar, event["id"], patch)
        except (ApiError, times.BadTime) as exc:
            return self._fail(exc)
        return web.json_response(render(calendar, updated, stub=False))

    async def cancel(self, request: web.Request) -> web.Response:
        """The organizer cancels the meeting (iCalUID; seriesStart for this and following)."""
        data = await self._body(request)
        calendar, event = self._meeting(data["iCalUID"], data.get("seriesStart"))
        self.state.calendars.delete(calendar, event["id"])
        return web.json_response({"cancelled": event["iCalUID"]})

    async def occurrence(self, request: web.Request) -> web.Response:
        """Move, rename or (``cancel``) delete one occurrence of a series."""
        data = await self._body(request)
        calendar, master = self._meeting(data["iCalUID"], data.get("seriesStart"))
        original = datetime.fromisoformat(data["originalStart"].replace("Z", "+00:00"))
        stamp = times.instance_stamp(original, master["_allday"], master["_tz"])
        instance_id = f"{master['id']}_{stamp}"
        try:
            if data.get("cancel"):
                self.state.calendars.delete(calendar, instance_id)
            else:
                patch: dict[str, Any] = {}
                if "subject" in data:
                    patch["summary"] = data["subject"]
                for key in ("start", "end"):
                    if key in data:
                        patch[key] = _when(data[key], master["_tz"], master["_allday"])
                self.state.calendars.patch(calendar, instance_id, patch)
        except (ApiError, times.BadTime) as exc:
            return self._fail(exc)
        return web.json_response({"ok": True, "instanceId": instance_id})

    async def split(self, request: web.Request) -> web.Response:
        """ "This and following events": the series ends before ``originalStart`` and a new one starts there."""
        data = await self._body(request)
        calendar, master = self._meeting(data["iCalUID"], data.get("seriesStart"))
        original = datetime.fromisoformat(data["originalStart"].replace("Z", "+00:00"))
        changes: dict[str, Any] = {}
        if "subject" in data:
            changes["summary"] = data["subject"]
        for key in ("start", "end"):
            if key in data:
                changes[key] = _when(data[key], master["_tz"], master["_allday"])
        try:
            new_event = self.state.calendars.split(calendar, master["id"], original, changes)
        except (ApiError, times.BadTime) as exc:
            return self._fail(exc)
        return web.json_response({"id": new_event["id"], "iCalUID": new_event["iCalUID"]})

    # -- inspection and knobs -------------------------------------------------------------------------------------
    async def responses(self, request: web.Request) -> web.Response:
        """How the rooms answered invitations, in order."""
        return web.json_response(self.state.calendars.responses)

    async def requests(self, request: web.Request) -> web.Response:
        """Requests the APIs served, per calendar, operation and status."""
        return web.json_response(self.state.traffic.summary())

    async def reset_requests(self, request: web.Request) -> web.Response:
        """Forget the request counters."""
        self.state.traffic.reset()
        return web.json_response({"ok": True})

    async def log(self, request: web.Request) -> web.Response:
        """Every request served, in order."""
        return web.json_response(self.state.traffic.log)

    async def add_fault(self, request: web.Request) -> web.Response:
        """Make the next matching requests fail: 403 rate limits, 429, 5xx, stalls, lost answers."""
        try:
            self.state.traffic.faults.append(Fault.from_json(await self._body(request)))
        except (ValueError, TypeError) as exc:
            return self._fail(exc)
        return web.json_response({"ok": True}, status=201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        """Remove every armed fault."""
        self.state.traffic.faults.clear()
        return web.json_response({"ok": True})

    async def get_settings(self, request: web.Request) -> web.Response:
        """The settings for behaviours Google does not document."""
        return web.json_response(self.state.settings.to_json())

    async def put_settings(self, request: web.Request) -> web.Response:
        """Change the settings for behaviours Google does not document."""
        try:
            self.state.settings.update(await self._body(request))
        except ValueError as exc:
            return self._fail(exc)
        return web.json_response(self.state.settings.to_json())

    async def put_quota(self, request: web.Request) -> web.Response:
        """Requests allowed per user and per project in a window."""
        data = await self._body(request)
        traffic = self.state.traffic
        traffic.user_limit = data.get("perUser")
        traffic.project_limit = data.get("perProject")
        traffic.window = float(data.get("windowSeconds", 60.0))
        traffic.users.clear()
        return web.json_response(
            {"perUser": traffic.user_limit, "perProject": traffic.project_limit, "windowSeconds": traffic.window}
        )

    async def put_latency(self, request: web.Request) -> web.Response:
        """Add a delay to every API request (seconds)."""
        self.state.traffic.latency = float((await self._body(request)).get("seconds", 0.0))
        return web.json_response({"latency": self.state.traffic.latency})

    async def put_access(self, request: web.Request) -> web.Response:
        """Which users may change events on room calendars."""
        writers = (await self._body(request)).get("roomWriters")
        self.state.room_writers = None if writers is None else {str(w).casefold() for w in writers}
        return web.json_response({"roomWriters": writers})

    async def expire_sync(self, request: web.Request) -> web.Response:
        """Expire sync tokens (optionally of one calendar): the next incremental list answers 410."""
        wanted = (await self._body(request)).get("calendar")
        expired = []
        for calendar in self.state.calendars.calendars.values():
            if wanted is None or calendar.id == str(wanted).casefold():
                calendar.epoch += 1
                expired.append(calendar.id)
        return web.json_response({"expired": expired})

    async def expire_tokens(self, request: web.Request) -> web.Response:
        """Expire the access tokens issued so far."""
        self.state.identity.expire_all()
        return web.json_response({"ok": True})

    async def tokens(self, request: web.Request) -> web.Response:
        """The access tokens issued: subject and scopes."""
        return web.json_response(self.state.identity.issued)


INDEX = AdminIndex(
    title="Google Workspace sandbox - admin",
    intro="This sandbox plays a Google Workspace domain: the Calendar API at /calendar/v3, the Directory's room "
    "resources at /admin/directory/v1 and the OAuth token endpoint at /token (a service account with domain-wide "
    "delegation). Rooms answer invitations as Google Calendar does. The admin API below plays people in Google "
    "Calendar and lets tests look inside; it needs no credentials. From the command line, `roomsync sandbox book -f "
    "sandbox.yaml calendar ...` and `roomsync sandbox show -f sandbox.yaml` do the same.",
    person=("/person/book", "/person/edit", "/person/cancel", "/person/occurrence", "/person/split", "/calendars/"),
    examples={
        "/person/book": {
            "organizer": "ben@contoso.example",
            "rooms": ["ams-302@contoso.example"],
            "subject": "Coffee chat",
            "start": "{day}T15:00:00",
            "end": "{day}T16:00:00",
            "timeZone": "Europe/Amsterdam",
        },
        "/person/edit": {"iCalUID": "<iCalUID of the meeting>", "subject": "Coffee chat (moved)"},
        "/person/cancel": {"iCalUID": "<iCalUID of the meeting>"},
        "/calendars/{calendar}/events": {"calendar": "ams-302@contoso.example"},
    },
)
