"""The emulated Graph v1.0 calendar subset and the Entra token endpoint, as aiohttp handlers.

Paths arrive percent-encoded (``/users/room1%40contoso.com/...``); ``delta`` and ``delta()``, ``calendar/calendarView``
and ``calendarView``, ``graph.room`` and ``microsoft.graph.room`` are all accepted, as the SDK and real Graph do.
Links (``@odata.nextLink`` / ``@odata.deltaLink``) carry the sandbox's own base URL, because the SDK follows them
verbatim.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from aiohttp import web

from roomsync.sandbox.graph import batch, outlook
from roomsync.sandbox.graph.calendar import NotFoundError
from roomsync.sandbox.graph.delta import PendingPages
from roomsync.sandbox.graph.identity import TokenError
from roomsync.sandbox.graph.model import Instance, Mailbox, StoredEvent
from roomsync.sandbox.graph.notifications import SubscriptionError
from roomsync.sandbox.graph.render import (
    BadRequest,
    check_property_id,
    expands,
    ext_filter_ids,
    parse_window,
    render_event,
)
from roomsync.sandbox.graph.traffic import operation

if TYPE_CHECKING:
    from roomsync.sandbox.graph.server import SandboxState

UTC = UTC
REQUEST_ID = web.RequestKey("request_id", str)
_ANY = re.compile(
    r"^singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+'([^']*)'\s+and\s+\1/value\s+eq\s+'([^']*)'\s*\)$",
    re.IGNORECASE,
)
_UID = re.compile(r"^iCalUId\s+eq\s+'([^']*)'$", re.IGNORECASE)
#: Writes that honour ``If-Match``. Graph documents no answer for a stale one on events: the emulator answers 412
#: with Exchange's ErrorIrresolvableConflict (the connector takes 409 as well).
CONDITIONAL = ("PATCH", "DELETE", "POST")
STALE = (
    "The send or update operation could not be performed because the change key passed in the request does not "
    "match the current change key for the item."
)


class PreconditionFailed(Exception):
    """Becomes 412 ErrorIrresolvableConflict."""


def graph_error(status: int, code: str, message: str, request: web.Request, **headers: str) -> web.Response:
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "request-id": request.get(REQUEST_ID, ""),
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "client-request-id": request.headers.get("client-request-id", request.get(REQUEST_ID, "")),
            },
        }
    }
    return web.json_response(body, status=status, headers=headers)


def prefer(request: web.Request) -> dict[str, str]:
    result = {}
    for header in request.headers.getall("Prefer", []):
        for part in header.split(","):
            key, _, value = part.strip().partition("=")
            if key:
                result[key.strip().lower()] = value.strip().strip('"')
    return result


def segments_of(request: web.Request) -> list[str]:
    """The path below ``/v1.0`` (from the path, not the route: a request inside a ``$batch`` is a clone)."""
    parts = [p for p in request.path.removeprefix("/v1.0").split("/") if p]
    if len(parts) >= 3 and parts[0] == "users" and parts[2] == "calendar" and len(parts) > 3:
        parts = parts[:2] + parts[3:]
    return [("delta" if p == "delta()" else p) for p in parts]


class GraphApi:
    """Request handling for ``/v1.0/...`` and ``/{tenant}/oauth2/v2.0/token``."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/{tenant}/oauth2/v2.0/token", self.token),
            web.get("/{tenant}/v2.0/.well-known/openid-configuration", self.openid),
            web.route("*", "/v1.0/{tail:.*}", self.graph),
        ]

    # -- identity -----------------------------------------------------------------------------------------------------
    async def token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        fault = self.state.traffic.take_fault("POST", request.path, None)
        if fault is not None:
            response = await self._fault(request, fault)
            if response is not None:
                return response
        try:
            body = self.state.identity.token(request.match_info["tenant"], form)
        except TokenError as exc:
            return web.json_response(
                {
                    "error": exc.error,
                    "error_description": exc.description,
                    "error_codes": [int(m) for m in re.findall(r"AADSTS(\d+)", exc.description)],
                },
                status=exc.status,
            )
        return web.json_response(body)

    async def openid(self, request: web.Request) -> web.Response:
        base = f"{request.scheme}://{request.host}/{request.match_info['tenant']}"
        return web.json_response(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            }
        )

    # -- graph ---------------------------------------------------------------------------------------------------------
    async def graph(self, request: web.Request) -> web.StreamResponse:
        request[REQUEST_ID] = str(uuid.uuid4())
        segments = segments_of(request)
        mailbox = segments[1].casefold() if len(segments) >= 2 and segments[0] == "users" else None
        op = operation(request.method, segments)
        traffic = self.state.traffic
        app = self.state.identity.client_of(request.headers.get("Authorization"))
        status = 0
        entry: dict[str, Any] = {
            "mailbox": mailbox,
            "method": request.method,
            "operation": op,
            "path": request.path_qs,
            "status": 0,
            "batched": request.get(batch.BATCHED, False),
        }
        if mailbox:
            traffic.enter(app, mailbox)
        if not entry["batched"]:
            traffic.http_enter()
        if segments == ["$batch"] and batch.BATCHED not in request:
            request[batch.TEMPLATE] = request.clone()  # before the body is read: aiohttp clones only unread requests
        try:
            response = await self._graph(request, segments, mailbox, app, entry)
            status = response.status
            return response
        except ConnectionResetError:
            status = -1
            raise
        finally:
            if mailbox:
                traffic.leave(app, mailbox)
            if not entry["batched"]:
                traffic.http_leave()
            entry["status"] = status
            traffic.record(entry)

    async def _graph(
        self, request: web.Request, segments: list[str], mailbox: str | None, app: str, entry: dict[str, Any]
    ) -> web.StreamResponse:
        state = self.state
        problem = state.identity.check_bearer(request.headers.get("Authorization"))
        if problem is not None:
            # What Graph sends when CAE revokes a session: kiota re-authenticates with the claims once.
            headers = {}
            if "expired" in problem and state.cae_challenge:
                headers["WWW-Authenticate"] = (
                    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
                    'error="insufficient_claims", '
                    'claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMCJ9fX0="'
                )
            return graph_error(401, "InvalidAuthenticationToken", problem, request, **headers)
        if mailbox and state.traffic.in_flight[(app, mailbox)] > state.traffic.concurrency_limit:
            return graph_error(
                429,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
                request,
                **{"Retry-After": state.traffic.concurrency_retry_after},
            )
        wait = state.traffic.spend(app, mailbox) if mailbox else None
        if wait is not None:
            budget = state.traffic.budget
            return graph_error(
                429,
                "ApplicationThrottled",
                f"Application is over its request limit for this mailbox ({budget.requests} requests in "
                f"{budget.seconds:g} seconds).",
                request,
                **{"Retry-After": str(wait)},
            )
        fault = state.traffic.take_fault(request.method, request.path, mailbox)
        if state.traffic.latency:
            await asyncio.sleep(state.traffic.latency)
        if fault is not None and not fault.after:
            response = await self._fault(request, fault)
            if response is not None:
                return response
        if mailbox and state.allowed_mailboxes is not None and mailbox not in state.allowed_mailboxes:
            return graph_error(403, "ErrorAccessDenied", "Access to OData is disabled.", request)
        try:
            body = await self._json_body(request)
            if isinstance(body, dict) and body:
                entry["transactionId"] = body.get("transactionId")
                entry["keys"] = sorted(body)
            answer = await self._dispatch(request, segments, mailbox, body)
        except BadRequest as exc:
            return graph_error(400, exc.code, str(exc), request)
        except NotFoundError as exc:
            return graph_error(404, "ErrorItemNotFound", str(exc), request)
        except PreconditionFailed:
            return graph_error(412, "ErrorIrresolvableConflict", STALE, request)
        if fault is not None and fault.after:
            await self._fault(request, fault)
        if fault is not None and fault.malformed:
            return web.Response(status=answer.status, text='{"value": [ {"id": "AAMk', content_type="application/json")
        return answer

    async def _fault(self, request: web.Request, fault: Any) -> web.Response | None:
        if fault.edit:
            outlook.edit(self.state.calendars, fault.edit)
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.reset:
            assert request.transport is not None
            request.transport.abort()
            raise ConnectionResetError("injected connection reset")
        if fault.status is None:
            return None
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        default_code = {429: "TooManyRequests", 503: "ServiceUnavailable", 504: "GatewayTimeout"}.get(
            fault.status, "InternalServerError"
        )
        return graph_error(
            fault.status, fault.code or default_code, fault.message or "Injected fault.", request, **headers
        )

    @staticmethod
    async def _json_body(request: web.Request) -> Any:
        if batch.INNER_BODY in request:  # a request inside a $batch carries its body as JSON already
            return request[batch.INNER_BODY]
        if request.method not in ("POST", "PATCH", "PUT") or not request.can_read_body:
            return {}
        text = await request.text()
        if not text.strip():
            return {}
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise BadRequest("Unable to read JSON request payload.", "BadRequest") from None

    async def _dispatch(
        self, request: web.Request, seg: list[str], mailbox: str | None, body: Any
    ) -> web.StreamResponse:
        method = request.method
        if seg == ["$batch"] and method == "POST" and batch.BATCHED not in request:
            return await batch.handle(request, body, self.graph)
        if seg[:1] == ["subscriptions"]:
            app = self.state.identity.client_of(request.headers.get("Authorization"))
            try:
                return await self.state.notifications.api(request, seg, app, body)
            except SubscriptionError as exc:
                return graph_error(exc.status, exc.code, str(exc), request)
        if (
            seg[:1] == ["places"]
            and len(seg) == 2
            and seg[1] in ("microsoft.graph.room", "graph.room")
            and method == "GET"
        ):
            return self._places(request)
        if seg[:1] != ["users"] or len(seg) < 3 or mailbox is None:
            return graph_error(400, "BadRequest", f"Resource not found for the segment '{'/'.join(seg[:1])}'.", request)
        try:
            box = self.state.calendars.mailbox(mailbox)
        except NotFoundError:
            return graph_error(404, "ErrorInvalidUser", f"The requested user '{mailbox}' is invalid.", request)
        rest = seg[2:]
        tz = prefer(request).get("outlook.timezone", "UTC")
        if len(rest) >= 2 and rest[0] == "events" and method in CONDITIONAL:
            self._check_if_match(request, box, rest[1])
        if rest == ["mailboxSettings"] and method == "GET":
            return self._json(
                request,
                {
                    "@odata.context": f"{self._base(request)}/$metadata#users('{box.address}')/mailboxSettings",
                    "timeZone": box.time_zone,
                },
            )
        if rest == ["calendarView"] and method == "GET":
            return self._calendar_view(request, box, tz)
        if rest == ["calendarView", "delta"] and method == "GET":
            return self._delta(request, box, tz)
        if rest == ["events"] and method == "GET":
            return self._list_events(request, box, tz)
        if rest == ["events"] and method == "POST":
            if not isinstance(body, dict):
                raise BadRequest("The request body must be an event.")
            event, _ = self.state.calendars.create(box, body)
            return self._json(request, render_event(event, tz), status=201)
        if len(rest) == 2 and rest[0] == "events":
            return self._item(request, box, rest[1], body, tz)
        if len(rest) == 3 and rest[0] == "events" and rest[2] == "instances" and method == "GET":
            return self._instances(request, box, rest[1], tz)
        if len(rest) == 3 and rest[0] == "events" and method == "POST":
            action = {
                "accept": "accept",
                "decline": "decline",
                "tentativelyaccept": "tentativelyAccept",
                "cancel": "cancel",
            }.get(rest[2].lower())
            if action is None:
                return graph_error(400, "BadRequest", f"Resource not found for the segment '{rest[2]}'.", request)
            if action == "cancel":
                event, _ = self.state.calendars.find(box, rest[1])
                if not event.is_organizer:
                    raise BadRequest("Your request can't be completed. Only the organizer can cancel a meeting.")
                comment = {str(k).lower(): v for k, v in (body or {}).items()}.get("comment")
                self.state.calendars.delete(box, rest[1], cancel_comment=str(comment or ""))
            else:
                self.state.calendars.respond(box, rest[1], action, body if isinstance(body, dict) else {})
            return web.Response(status=202)
        return graph_error(400, "BadRequest", f"Resource not found for the segment '{'/'.join(rest)}'.", request)

    def _check_if_match(self, request: web.Request, box: Mailbox, event_id: str) -> None:
        """``If-Match`` on a write: ``*`` or the item's current etag (weak or strong form), else 412."""
        wanted = request.headers.get("If-Match")
        if wanted is None or wanted.strip() == "*":
            return
        current = self.state.calendars.change_key_of(box, event_id)
        if wanted.strip().removeprefix("W/").strip('"') != current:
            raise PreconditionFailed(event_id)

    # -- handlers ----------------------------------------------------------------------------------------------------
    def _json(self, request: web.Request, data: dict[str, Any], status: int = 200) -> web.Response:
        headers = {"request-id": request[REQUEST_ID]}
        pref = prefer(request)
        applied = [f'outlook.timezone="{pref["outlook.timezone"]}"'] if "outlook.timezone" in pref else []
        if "idtype" in pref:
            applied.append(f'IdType="{pref["idtype"]}"')
        if applied:
            headers["Preference-Applied"] = ", ".join(applied)
        return web.json_response(data, status=status, headers=headers)

    def _base(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}/v1.0"

    def _calendar_view(self, request: web.Request, box: Mailbox, tz: str) -> web.Response:
        q = request.query
        start, end = parse_window(q.get("startDateTime"), q.get("endDateTime"))
        top = self._top(q.get("$top"), 10)
        skip = int(q.get("$skip", "0") or 0)
        select = q["$select"].split(",") if q.get("$select") else None
        ext_ids = ext_filter_ids(q.get("$expand"))
        instances = box.instances(start, end)
        page = instances[skip : skip + top]
        data: dict[str, Any] = {
            "@odata.context": f"{self._base(request)}/$metadata#users('{box.address}')/calendarView",
            "value": [render_event(i.event, tz, instance=i, select=select, ext_ids=ext_ids) for i in page],
        }
        if skip + top < len(instances):
            params = {k: v for k, v in q.items() if k != "$skip"}
            params["$skip"] = str(skip + top)
            data["@odata.nextLink"] = (
                f"{self._base(request)}/users/{quote(box.address, safe='')}/calendarView?"
                + urlencode(params, quote_via=quote)
            )
        return self._json(request, data)

    @staticmethod
    def _top(value: str | None, default: int) -> int:
        try:
            top = int(value) if value else default
        except ValueError:
            raise BadRequest("Invalid $top value.") from None
        if not 1 <= top <= 1000:
            raise BadRequest("$top must be between 1 and 1000.")
        return top

    def _delta(self, request: web.Request, box: Mailbox, tz: str) -> web.Response:
        q, tokens = request.query, self.state.delta
        if "$expand" in q or "$select" in q or "$filter" in q:
            raise BadRequest("The query parameters $expand, $select and $filter are not supported with delta.")
        size = self._top(prefer(request).get("odata.maxpagesize"), 10)
        pending: PendingPages
        if "$skiptoken" in q or "$deltatoken" in q:
            token = q.get("$skiptoken") or q.get("$deltatoken") or ""
            if "$skiptoken" in q:
                found = tokens.pages.pop(token, None)
                if found is None or found.mailbox != box.address:
                    return self._sync_state_gone(request, box)
                pending = found
            else:
                previous = tokens.deltas.get(token)
                if previous is None or previous.mailbox != box.address:
                    return self._sync_state_gone(request, box)
                pending = tokens.round(box, previous.start, previous.end, previous, _digest)
        else:
            start, end = parse_window(q.get("startDateTime"), q.get("endDateTime"))
            pending = tokens.round(box, start, end, None, _digest)
        batch, kind, token = tokens.page(pending, size)
        value = []
        for entry in batch:
            if entry.instance is None:
                value.append(tokens.removed(entry.item_id))
                continue
            event = entry.instance.event
            ext_ids = sorted({*event.ext, *(k for exc in event.exceptions.values() for k in exc.ext)})
            whole = {
                "@odata.type": "#microsoft.graph.event",
                **render_event(
                    event, tz, instance=entry.instance, ext_ids=ext_ids if tokens.extended_properties else None
                ),
            }
            keys = entry.keys
            if keys is not None:
                keys = keys | {"singleValueExtendedProperties"}  # when present: sent with every entry, as GET does
            value.append(whole if keys is None else {k: v for k, v in whole.items() if k in keys})
        link = f"{self._base(request)}/users/{quote(box.address, safe='')}/calendarView/delta?${kind}token={token}"
        data = {
            "@odata.context": f"{self._base(request)}/$metadata#Collection(event)",
            "value": value,
            ("@odata.nextLink" if kind == "skip" else "@odata.deltaLink"): link,
        }
        return self._json(request, data)

    def _sync_state_gone(self, request: web.Request, box: Mailbox) -> web.Response:
        location = f"{self._base(request)}/users/{quote(box.address, safe='')}/calendarView/delta"
        return graph_error(
            410,
            "syncStateNotFound",
            "The sync state generation is not found. Start a new sync.",
            request,
            Location=location,
        )

    def _list_events(self, request: web.Request, box: Mailbox, tz: str) -> web.Response:
        q = request.query
        events: list[StoredEvent] = sorted(box.events.values(), key=lambda e: (e.start, e.id))
        flt = (q.get("$filter") or "").strip()
        if flt:
            uid, ext = _UID.match(flt), _ANY.match(flt)
            if uid:
                events = [e for e in events if e.ical_uid == uid.group(1)]
            elif ext:
                pid, value = check_property_id(ext.group(2)), ext.group(3)
                events = [
                    e for e in events if e.ext.get(pid, None) is not None and e.ext[pid].casefold() == value.casefold()
                ]
            else:
                raise BadRequest(f"The $filter expression {flt!r} is not supported.", "ErrorInvalidUrlQueryFilter")
        top = self._top(q.get("$top"), 10)
        skip = int(q.get("$skip", "0") or 0)
        select = q["$select"].split(",") if q.get("$select") else None
        ext_ids = ext_filter_ids(q.get("$expand"))
        page = events[skip : skip + top]
        data: dict[str, Any] = {"value": [render_event(e, tz, select=select, ext_ids=ext_ids) for e in page]}
        if skip + top < len(events):
            params = {k: v for k, v in q.items() if k != "$skip"}
            params["$skip"] = str(skip + top)
            data["@odata.nextLink"] = f"{self._base(request)}/users/{quote(box.address, safe='')}/events?" + urlencode(
                params, quote_via=quote
            )
        return self._json(request, data)

    def _item(self, request: web.Request, box: Mailbox, event_id: str, body: Any, tz: str) -> web.Response:
        calendars = self.state.calendars
        if request.method == "GET":
            event, original = calendars.find(box, event_id)
            q = request.query
            select = q["$select"].split(",") if q.get("$select") else None
            ext_ids = ext_filter_ids(q.get("$expand"))
            instance = event.instance_at(original) if original is not None else None
            if original is not None and instance is None:
                raise NotFoundError("The specified object was not found in the store.")
            return self._json(
                request,
                render_event(
                    event,
                    tz,
                    instance=instance,
                    select=select,
                    ext_ids=ext_ids,
                    with_exceptions=expands(q.get("$expand"), "exceptionOccurrences"),
                ),
            )
        if request.method == "PATCH":
            if not isinstance(body, dict):
                raise BadRequest("The request body must be an event.")
            event, original = calendars.update(box, event_id, body)
            instance = event.instance_at(original) if original is not None else None
            return self._json(request, render_event(event, tz, instance=instance))
        if request.method == "DELETE":
            calendars.delete(box, event_id)
            return web.Response(status=204)
        return graph_error(405, "BadRequest", "Method not allowed.", request)

    def _instances(self, request: web.Request, box: Mailbox, event_id: str, tz: str) -> web.Response:
        event, original = self.state.calendars.find(box, event_id)
        if original is not None or not event.recurrence:
            raise BadRequest("instances is only available on a series master.")
        q = request.query
        start, end = parse_window(q.get("startDateTime"), q.get("endDateTime"))
        top = self._top(q.get("$top"), 10)
        skip = int(q.get("$skip", "0") or 0)
        instances = event.instances(start, end)
        data: dict[str, Any] = {"value": [render_event(event, tz, instance=i) for i in instances[skip : skip + top]]}
        if skip + top < len(instances):
            params = {k: v for k, v in q.items() if k != "$skip"}
            params["$skip"] = str(skip + top)
            data["@odata.nextLink"] = (
                f"{self._base(request)}/users/{quote(box.address, safe='')}/events/{event.id}/instances?"
                + urlencode(params, quote_via=quote)
            )
        return self._json(request, data)

    def _places(self, request: web.Request) -> web.Response:
        q = request.query
        rooms = sorted((b for b in self.state.mailboxes.values() if b.kind == "room"), key=lambda b: b.address)
        top = self._top(q.get("$top"), 100)
        skip = int(q.get("$skip", "0") or 0)
        value: list[dict[str, Any]] = [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, b.address)),
                "emailAddress": b.address,
                "displayName": b.name,
                "capacity": b.capacity,
                "building": b.building,
                "bookingType": "standard",
                "isWheelChairAccessible": False,
                "tags": [],
            }
            for b in rooms[skip : skip + top]
        ]
        data: dict[str, Any] = {
            "@odata.context": f"{self._base(request)}/$metadata#places/microsoft.graph.room",
            "value": value,
        }
        if skip + top < len(rooms):
            data["@odata.nextLink"] = f"{self._base(request)}/places/microsoft.graph.room?$top={top}&$skip={skip + top}"
        return self._json(request, data)


def _digest(instance: Instance) -> dict[str, Any]:
    """What a delta round remembers it told the client about an instance (rendered in UTC, compared next round)."""
    return render_event(instance.event, "UTC", instance=instance)
