"""The emulated Calendar API v3 subset, the Directory ``resources.calendars`` list and the OAuth token endpoint.

Paths are those google-api-python-client builds from its bundled discovery documents with ``api_endpoint``
pointing here: ``/calendar/v3/calendars/{calendarId}/events...`` (``%40`` in ids) and
``/admin/directory/v1/customer/{customer}/resources/calendars``. ``alt=json`` is ignored. Errors have Google's
shape (``{"error": {"errors": [{"domain", "reason", "message", "locationType", "location"}], "code", "message"}}``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from roomsync.sandbox.google import times
from roomsync.sandbox.google.auth import CALENDAR_SCOPES, DIRECTORY_SCOPES, TokenError
from roomsync.sandbox.google.calendars import ApiError, bad
from roomsync.sandbox.google.model import Calendar
from roomsync.sandbox.google.traffic import DEFAULT_MESSAGES, operation

if TYPE_CHECKING:
    from roomsync.sandbox.google.server import SandboxState

READ_ONLY_SCOPES = frozenset(
    {"https://www.googleapis.com/auth/calendar.readonly", "https://www.googleapis.com/auth/calendar.events.readonly"}
)
SYNC_FORBIDDEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
_QUERY = re.compile(r"^\s*(\w+)\s*=\s*(\S+)\s*$")


def _encode(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(token: str) -> dict[str, Any] | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def error_response(error: ApiError) -> web.Response:
    return web.json_response(error.body(), status=error.status)


def render(calendar: Calendar, event: dict[str, Any], *, stub: bool = True) -> dict[str, Any]:
    """An event as the API returns it to ``calendar``; cancelled events as stubs (``get`` shows them whole)."""
    if event["status"] == "cancelled" and stub:
        data = {"kind": "calendar#event", "etag": event["etag"], "id": event["id"], "status": "cancelled"}
        if event.get("recurringEventId"):
            data["recurringEventId"] = event["recurringEventId"]
            data["originalStartTime"] = event["originalStartTime"]
        return data
    data = {"kind": "calendar#event"}
    for key, value in event.items():
        if not key.startswith("_"):
            data[key] = json.loads(json.dumps(value))
    data["start"] = times.render_when(
        event["_s"], event["_allday"], event["_tz"], with_zone=bool((event.get("start") or {}).get("timeZone"))
    )
    data["end"] = times.render_when(
        event["_e"], event["_allday"], event["_tz"], with_zone=bool((event.get("end") or {}).get("timeZone"))
    )
    if event["_allday"]:
        data["start"] = times.render_when(event["_s"], True, calendar.time_zone)
        data["end"] = times.render_when(event["_e"], True, calendar.time_zone)
    organizer = dict(data.get("organizer") or {})
    if organizer.get("email") == calendar.id:
        organizer["self"] = True
    data["organizer"] = organizer
    for attendee in data.get("attendees") or []:
        if attendee.get("email") == calendar.id:
            attendee["self"] = True
    if not data.get("attendees"):
        data.pop("attendees", None)
    if not data.get("extendedProperties"):
        data.pop("extendedProperties", None)
    data["reminders"] = {"useDefault": True}
    return data


class Api:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/token", self.token),
            web.route("*", "/calendar/v3/{tail:.*}", self.calendar_api),
            web.get("/admin/directory/v1/customer/{customer}/resources/calendars", self.directory),
        ]

    # -- OAuth ----------------------------------------------------------------------------------------------------
    async def token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        status = 200
        try:
            fault = self.state.traffic.take_fault("POST", request.path, None)
            if fault is not None and fault.status:
                status = fault.status
                return web.json_response(
                    {"error": "internal_failure", "error_description": "Injected fault."}, status=status
                )
            try:
                body = self.state.identity.token(form)
            except TokenError as exc:
                status = exc.status
                return web.json_response({"error": exc.error, "error_description": exc.description}, status=status)
            return web.json_response(body)
        finally:
            self.state.traffic.record(None, "POST", "token", status, None, request.path)

    # -- Calendar API ---------------------------------------------------------------------------------------------
    async def calendar_api(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.match_info["tail"].split("/") if p]
        return await self._guarded(request, parts, "calendar")

    async def directory(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, [], "directory")

    async def _guarded(self, request: web.Request, parts: list[str], api: str) -> web.StreamResponse:
        traffic = self.state.traffic
        calendar_id = parts[1].casefold() if len(parts) >= 2 and parts[0] == "calendars" else None
        op = operation(request.method, parts) if api == "calendar" else "resources.calendars.list"
        user: str | None = None
        status = 500
        try:
            wanted = CALENDAR_SCOPES | (READ_ONLY_SCOPES if request.method == "GET" else frozenset())
            grant, problem, code = self.state.identity.check(
                request.headers.get("Authorization"), DIRECTORY_SCOPES if api == "directory" else wanted
            )
            if problem is not None:
                reason = "authError" if code == 401 else "insufficientPermissions"
                raise ApiError(
                    code,
                    reason,
                    problem if code == 403 else "Invalid Credentials",
                    location="Authorization" if code == 401 else None,
                )
            assert grant is not None
            user = grant.subject
            if calendar_id == "primary":
                calendar_id = user
            fault = traffic.take_fault(request.method, request.path, calendar_id)
            if traffic.latency:
                await asyncio.sleep(traffic.latency)
            if fault is not None and fault.delay:
                await asyncio.sleep(fault.delay)
            if fault is not None and fault.status and not fault.after:
                reason = fault.default_reason()
                raise ApiError(fault.status, reason, DEFAULT_MESSAGES.get(reason, "Injected fault."))
            refused = traffic.over_quota(user)
            if refused is not None:
                raise ApiError(403, refused, DEFAULT_MESSAGES[refused])
            if api == "directory":
                response = self._directory(request, user)
            else:
                response = await self._dispatch(request, parts, calendar_id, user)
            if fault is not None and fault.after:
                status = -1
                assert request.transport is not None
                request.transport.abort()  # the change is made; the answer is lost
                raise ConnectionResetError("injected lost answer")
            status = response.status
            return response
        except ApiError as error:
            status = error.status
            return error_response(error)
        except times.BadTime as exc:
            status = 400
            return error_response(bad(str(exc)))
        finally:
            traffic.record(calendar_id, request.method, op, status, user, request.path_qs)

    def _access(self, calendar_id: str | None, user: str | None) -> Calendar:
        if calendar_id is None:
            raise ApiError(404, "notFound", "Not Found")
        calendar = self.state.calendars.calendar(calendar_id)
        allowed = (
            user == calendar.id
            if calendar.kind == "user"
            else user is not None and (self.state.room_writers is None or user in self.state.room_writers)
        )
        if not allowed:
            raise ApiError(404, "notFound", "Not Found")
        return calendar

    async def _dispatch(
        self, request: web.Request, parts: list[str], calendar_id: str | None, user: str | None
    ) -> web.Response:
        if parts == ["channels", "stop"] and request.method == "POST":
            self.state.push.stop(await self._body(request))
            return web.Response(status=204)
        if len(parts) < 3 or parts[0] != "calendars" or parts[2] != "events":
            raise ApiError(404, "notFound", "Not Found")
        calendar = self._access(calendar_id, user)
        calendars = self.state.calendars
        rest, method, q = parts[3:], request.method, request.query
        body = await self._body(request)
        if_match = request.headers.get("If-Match")
        if not rest and method == "GET":
            return web.json_response(self._list(calendar, request))
        if not rest and method == "POST":
            event = calendars.insert(calendar, body, creator=user or "")
            return web.json_response(render(calendar, event))
        if rest == ["import"] and method == "POST":
            organizer = body.get("organizer") if isinstance(body, dict) else None
            event = calendars.insert(calendar, body, creator=user or "", organizer=organizer, imported=True)
            return web.json_response(render(calendar, event))
        if rest == ["watch"] and method == "POST":
            return web.json_response(self.state.push.watch(calendar, body, f"{request.scheme}://{request.host}"))
        event_id = rest[0]
        if len(rest) == 1:
            if method == "GET":
                event = calendars.find(calendar, event_id)
                if request.headers.get("If-None-Match") == event.get("etag"):
                    return web.Response(status=304)
                return web.json_response(render(calendar, event, stub=False))
            if method == "PATCH":
                return web.json_response(
                    render(calendar, calendars.patch(calendar, event_id, body, if_match=if_match, actor=user or ""))
                )
            if method == "DELETE":
                calendars.delete(calendar, event_id, if_match=if_match)
                return web.Response(status=204)
            raise ApiError(405, "methodNotAllowed", "Method not allowed.")
        if rest[1:] == ["instances"] and method == "GET":
            return web.json_response(self._instances(calendar, event_id, request))
        if rest[1:] == ["move"] and method == "POST":
            destination = self._access(str(q.get("destination") or "").casefold(), user)
            moved = calendars.move(calendar, event_id, destination, if_match=if_match)
            return web.json_response(render(destination, moved))
        raise ApiError(404, "notFound", "Not Found")

    @staticmethod
    async def _body(request: web.Request) -> Any:
        if request.method not in ("POST", "PATCH", "PUT") or not request.can_read_body:
            return {}
        text = await request.text()
        if not text.strip():
            return {}
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise ApiError(400, "parseError", "Parse Error") from None

    # -- list and sync ---------------------------------------------------------------------------------------------
    def _list(self, calendar: Calendar, request: web.Request) -> dict[str, Any]:
        q = request.query
        size = self._size(q.get("maxResults"), 250, 2500)
        show_deleted = q.get("showDeleted") == "true"
        single = q.get("singleEvents") == "true"
        page = _decode(q["pageToken"]) if q.get("pageToken") else {}
        if page is None:
            raise bad("Invalid page token.", "pageToken")
        since: int | None = None
        if q.get("syncToken"):
            if any(k in q for k in SYNC_FORBIDDEN):
                raise bad("Sync token cannot be used with other filtering parameters.", "syncToken")
            token = _decode(q["syncToken"])
            if token is None or token.get("c") != calendar.id or token.get("e") != calendar.epoch:
                raise ApiError(
                    410,
                    "fullSyncRequired",
                    "Sync token is no longer valid, a full sync is required.",
                    location="syncToken",
                )
            since, show_deleted = int(token["s"]), True
        clock = int(page.get("k", calendar.clock))
        items = self._select(calendar, q, since, clock, show_deleted, single)
        items.sort(key=lambda e: e["id"])
        after = page.get("a")
        if after is not None:
            items = [e for e in items if e["id"] > after]
        chunk = items[:size]
        data: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"{calendar.clock}"',
            "summary": calendar.name,
            "updated": times.rfc3339(self.state.calendars.now()),
            "timeZone": calendar.time_zone,
            "accessRole": "writer",
            "defaultReminders": [],
            "items": [render(calendar, e) for e in chunk],
        }
        if len(items) > size:
            data["nextPageToken"] = _encode({"a": chunk[-1]["id"], "k": clock})
        else:
            data["nextSyncToken"] = _encode({"c": calendar.id, "e": calendar.epoch, "s": clock})
        return data

    def _select(
        self, calendar: Calendar, q: Any, since: int | None, clock: int, show_deleted: bool, single: bool
    ) -> list[dict[str, Any]]:
        calendars = self.state.calendars
        lo = times.parse_rfc3339(q["timeMin"], "timeMin") if q.get("timeMin") else None
        hi = times.parse_rfc3339(q["timeMax"], "timeMax") if q.get("timeMax") else None
        if lo is not None and hi is not None and lo >= hi:
            raise bad("The specified time range is empty.", "timeMax")
        uid = q.get("iCalUID")
        wanted_props = [p.split("=", 1) for p in q.getall("privateExtendedProperty", []) if "=" in p]
        result = []
        for event in list(calendar.events.values()):
            if since is not None and not since < event["_seq"] <= clock:
                continue
            if event["status"] == "cancelled" and not show_deleted:
                continue
            if uid is not None and event.get("iCalUID") != uid:
                continue
            if wanted_props:
                private = (event.get("extendedProperties") or {}).get("private") or {}
                hits = [private.get(k) == v for k, v in wanted_props]
                if not (all(hits) if self.state.settings.extended_property_filter == "and" else any(hits)):
                    continue
            if single and event.get("recurrence") and event["status"] != "cancelled":
                result += [
                    i
                    for i in calendars.instances(
                        calendar, event, lo or datetime.min.replace(tzinfo=UTC), hi or event["_s"] + times.HORIZON
                    )
                    if show_deleted or i["status"] != "cancelled"
                ]
                continue
            if single and event.get("recurringEventId"):
                continue  # already part of its master's expansion
            if since is None and (lo is not None or hi is not None) and not self._in_range(calendar, event, lo, hi):
                continue
            result.append(event)
        return result

    def _in_range(self, calendar: Calendar, event: dict[str, Any], lo: datetime | None, hi: datetime | None) -> bool:
        low = lo or datetime.min.replace(tzinfo=UTC)
        if event.get("recurrence") and event["status"] != "cancelled":
            high = hi or event["_s"] + times.HORIZON
            return any(i["status"] != "cancelled" for i in self.state.calendars.instances(calendar, event, low, high))
        return event["_e"] > low and (hi is None or event["_s"] < hi)

    def _instances(self, calendar: Calendar, event_id: str, request: web.Request) -> dict[str, Any]:
        q = request.query
        master = self.state.calendars.find(calendar, event_id)
        if not master.get("recurrence"):
            raise bad("The event is not a recurring event.", "eventId")
        lo = times.parse_rfc3339(q["timeMin"], "timeMin") if q.get("timeMin") else master["_s"]
        hi = times.parse_rfc3339(q["timeMax"], "timeMax") if q.get("timeMax") else master["_s"] + times.HORIZON
        found = self.state.calendars.instances(calendar, master, lo, hi)
        if q.get("originalStart"):
            wanted = times.parse_rfc3339(q["originalStart"], "originalStart")
            found = [
                i
                for i in self.state.calendars.instances(
                    calendar, master, wanted, wanted + (master["_e"] - master["_s"]) + times.HORIZON
                )
                if i["_o"] == wanted
            ]
        if q.get("showDeleted") != "true":
            found = [i for i in found if i["status"] != "cancelled"]
        size = self._size(q.get("maxResults"), 250, 2500)
        page = _decode(q["pageToken"]) if q.get("pageToken") else {}
        start = int((page or {}).get("o", 0))
        data: dict[str, Any] = {
            "kind": "calendar#events",
            "timeZone": calendar.time_zone,
            "items": [render(calendar, i, stub=False) for i in found[start : start + size]],
        }
        if start + size < len(found):
            data["nextPageToken"] = _encode({"o": start + size})
        return data

    @staticmethod
    def _size(value: str | None, default: int, top: int) -> int:
        try:
            size = int(value) if value else default
        except ValueError:
            raise bad("Invalid value for maxResults.", "maxResults") from None
        if size < 1:
            raise bad("Invalid value for maxResults.", "maxResults")
        return min(size, top)

    # -- Directory ----------------------------------------------------------------------------------------------
    def _directory(self, request: web.Request, user: str | None) -> web.Response:
        if user is None or user not in self.state.admins:
            raise ApiError(403, "forbidden", "Not Authorized to access this resource/api")
        customer = request.match_info["customer"]
        if customer not in ("my_customer", self.state.customer_id):
            raise ApiError(400, "badRequest", "Bad Request")
        q = request.query
        rooms = sorted(
            (c for c in self.state.calendars.calendars.values() if c.kind == "room"), key=lambda c: c.resource_id
        )
        for clause in filter(None, re.split(r"\s+AND\s+", q.get("query", ""))):
            match = _QUERY.match(clause)
            if match is None:
                raise bad(f"Invalid query: {clause}", "query")
            key, value = match.group(1), match.group(2).strip('"')
            attribute = {
                "buildingId": "building",
                "resourceCategory": "category",
                "resourceEmail": "id",
                "floor_name": "floor",
            }.get(key)
            if attribute is None:
                raise bad(f"Invalid query field: {key}", "query")
            rooms = [c for c in rooms if str(getattr(c, attribute)) == value]
        size = self._size(q.get("maxResults"), 100, 500)
        start = int((_decode(q["pageToken"]) or {}).get("o", 0)) if q.get("pageToken") else 0
        data: dict[str, Any] = {
            "kind": "admin#directory#resources#calendars#calendarResourcesList",
            "items": [c.directory_json(customer) for c in rooms[start : start + size]],
        }
        if start + size < len(rooms):
            data["nextPageToken"] = _encode({"o": start + size})
        return web.json_response(data)
