"""Admin endpoints under ``/_admin/``, kept apart from the emulated API: seed rooms and processing settings, play "a
person books rooms in Outlook" (book / edit / cancel / change one occurrence), inspect calendars, the mail Exchange
would have sent and the request counters, and inject faults. No authentication: the sandbox listens on loopback.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from roomsync.sandbox.admin_page import AdminIndex
from roomsync.sandbox.graph import outlook
from roomsync.sandbox.graph.calendar import NotFoundError
from roomsync.sandbox.graph.model import Mailbox, Processing, StoredEvent
from roomsync.sandbox.graph.render import BadRequest, format_utc
from roomsync.sandbox.graph.traffic import Fault
from roomsync.sandbox.graph.zones import UnknownTimeZone, zone

if TYPE_CHECKING:
    from roomsync.sandbox.graph.server import SandboxState

UTC = UTC


def event_json(event: StoredEvent) -> dict[str, Any]:
    """A compact view of a stored item for assertions."""
    return {
        "id": event.id,
        "iCalUId": event.ical_uid,
        "type": event.type,
        "subject": event.subject,
        "body": event.body,
        "start": format_utc(event.start),
        "end": format_utc(event.end),
        "timeZone": event.tz,
        "organizer": event.organizer_address,
        "isOrganizer": event.is_organizer,
        "response": event.response,
        "showAs": event.show_as,
        "isCancelled": event.is_cancelled,
        "attendees": [{"address": a.address, "type": a.type, "response": a.response} for a in event.attendees],
        "recurrence": event.recurrence,
        "transactionId": event.transaction_id,
        "extendedProperties": dict(event.ext),
        "exceptions": {
            format_utc(k): {"start": format_utc(v.start), "end": format_utc(v.end), "subject": v.subject}
            for k, v in sorted(event.exceptions.items())
        },
        "cancelledOccurrences": [format_utc(k) for k in sorted(event.cancelled)],
    }


class AdminApi:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def routes(self) -> list[web.RouteDef]:
        """The admin API; the index page at ``/_admin`` (:data:`INDEX`) is installed by the server."""
        return [
            web.get("/_admin/health", self.health),
            web.post("/_admin/rooms", self.add_rooms),
            web.get("/_admin/rooms", self.list_rooms),
            web.put("/_admin/rooms/{room}/processing", self.set_processing),
            web.put("/_admin/rooms/{room}/regional", self.set_regional),
            web.get("/_admin/rooms/{room}/events", self.room_events),
            web.get("/_admin/rooms/{room}/inbox", self.room_inbox),
            web.post("/_admin/outlook/book", self.book),
            web.post("/_admin/outlook/edit", self.edit),
            web.post("/_admin/outlook/cancel", self.cancel),
            web.post("/_admin/outlook/occurrence", self.occurrence),
            web.get("/_admin/requests", self.requests),
            web.delete("/_admin/requests", self.reset_requests),
            web.get("/_admin/log", self.log),
            web.get("/_admin/mail", self.mail),
            web.post("/_admin/faults", self.add_fault),
            web.delete("/_admin/faults", self.clear_faults),
            web.put("/_admin/latency", self.set_latency),
            web.put("/_admin/concurrency", self.set_concurrency),
            web.post("/_admin/apps", self.add_app),
            web.post("/_admin/tokens/expire", self.expire_tokens),
            web.post("/_admin/credentials/revoke", self.revoke),
            web.post("/_admin/delta/expire", self.expire_delta),
            web.put("/_admin/scope", self.set_scope),
            web.put("/_admin/clock", self.set_clock),
            web.put("/_admin/delta", self.set_delta),
            web.put("/_admin/budget", self.set_budget),
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
        return web.json_response({"error": str(exc)}, status=status)

    async def health(self, request: web.Request) -> web.Response:
        """Is the sandbox up: ``{"ok": true}``."""
        return web.json_response({"ok": True})

    async def add_rooms(self, request: web.Request) -> web.Response:
        """Add or change room mailboxes: address, name, capacity, time zone, calendar processing."""
        data = await self._body(request)
        added = []
        for room in data.get("rooms") or [data]:
            address = str(room["address"]).strip().casefold()
            box = self.state.mailboxes.get(address) or Mailbox(address=address, name=room.get("name") or address)
            box.kind = "room"
            box.name = room.get("name") or box.name
            box.capacity = room.get("capacity", box.capacity)
            box.building = room.get("building", box.building)
            box.time_zone = str(room.get("timeZone", box.time_zone))
            try:
                box.processing = Processing.from_json(room.get("processing") or {}, box.processing)
            except ValueError as exc:
                return self._fail(exc)
            self.state.mailboxes[address] = box
            added.append(address)
        return web.json_response({"rooms": added}, status=201)

    async def list_rooms(self, request: web.Request) -> web.Response:
        """The room mailboxes and their calendar processing settings."""
        return web.json_response(
            [
                {"address": b.address, "name": b.name, "processing": b.processing.to_json()}
                for b in self.state.mailboxes.values()
                if b.kind == "room"
            ]
        )

    def _room(self, request: web.Request) -> Mailbox:
        try:
            return self.state.calendars.mailbox(request.match_info["room"])
        except NotFoundError:
            raise web.HTTPNotFound(text=f"no mailbox {request.match_info['room']}") from None

    async def set_processing(self, request: web.Request) -> web.Response:
        """Set-CalendarProcessing for a room: AutomateProcessing (AutoAccept / AutoUpdate), conflicts ..."""
        box = self._room(request)
        try:
            box.processing = Processing.from_json(await self._body(request), box.processing)
        except ValueError as exc:
            return self._fail(exc)
        return web.json_response(box.processing.to_json())

    async def set_regional(self, request: web.Request) -> web.Response:
        """Set-MailboxRegionalConfiguration -TimeZone: what the mailbox's mailboxSettings report."""
        box = self._room(request)
        value = str((await self._body(request)).get("timeZone") or "")
        if value:
            try:
                zone(value)
            except UnknownTimeZone as exc:
                return self._fail(exc)
        box.time_zone = value
        return web.json_response({"timeZone": box.time_zone})

    async def room_events(self, request: web.Request) -> web.Response:
        """Everything in a room's calendar, as stored: subject, times, organizer, the room's answer, links."""
        box = self._room(request)
        return web.json_response([event_json(e) for e in sorted(box.events.values(), key=lambda e: (e.start, e.id))])

    async def room_inbox(self, request: web.Request) -> web.Response:
        """The meeting requests and responses in a room's inbox."""
        return web.json_response(self._room(request).inbox)

    # -- a person in Outlook ---------------------------------------------------------------------------------------
    async def book(self, request: web.Request) -> web.Response:
        """A person sends a meeting request from Outlook to rooms (organizer, rooms, subject, start, end, timeZone)."""
        data = await self._body(request)
        tz = data.get("timeZone") or "UTC"
        body: dict[str, Any] = {
            "subject": data.get("subject", ""),
            "body": {"contentType": "text", "content": data.get("body", "")},
            "start": outlook.local_value(data["start"], tz),
            "end": outlook.local_value(data["end"], tz),
            "attendees": outlook.attendee_list(data),
            "location": {"displayName": data.get("location", "")},
            "isAllDay": bool(data.get("allDay")),
        }
        if data.get("recurrence"):
            body["recurrence"] = data["recurrence"]
        try:
            event = self.state.calendars.outlook_book(data["organizer"], body, data.get("organizerName"))
        except BadRequest as exc:
            return self._fail(exc)
        return web.json_response({"iCalUId": event.ical_uid, "id": event.id, "mailbox": event.mailbox}, status=201)

    async def edit(self, request: web.Request) -> web.Response:
        """The organizer changes the meeting in Outlook (iCalUId and what changes: subject, start, end, rooms ...)."""
        data = await self._body(request)
        try:
            event = outlook.edit(self.state.calendars, data)
        except NotFoundError as exc:
            return self._fail(exc, 404)
        except BadRequest as exc:
            return self._fail(exc)
        return web.json_response(event_json(event))

    async def cancel(self, request: web.Request) -> web.Response:
        """The organizer cancels the meeting in Outlook (iCalUId, optional comment)."""
        data = await self._body(request)
        try:
            box, event = self.state.calendars.meeting(data["iCalUId"])
        except NotFoundError as exc:
            return self._fail(exc, 404)
        self.state.calendars.delete(box, event.id, cancel_comment=data.get("comment", ""))
        return web.json_response({"cancelled": event.ical_uid})

    async def occurrence(self, request: web.Request) -> web.Response:
        """The organizer changes or cancels one occurrence of a series (iCalUId, originalStart)."""
        data = await self._body(request)
        original = datetime.fromisoformat(data["originalStart"].replace("Z", "+00:00")).astimezone(UTC)
        body = None
        if not data.get("cancel"):
            body = {}
            if "subject" in data:
                body["subject"] = data["subject"]
            for key in ("start", "end"):
                if key in data:
                    body[key] = outlook.local_value(data[key], "UTC")
        try:
            self.state.calendars.outlook_occurrence(data["iCalUId"], original, body)
        except NotFoundError as exc:
            return self._fail(exc, 404)
        except BadRequest as exc:
            return self._fail(exc)
        return web.json_response({"ok": True})

    # -- traffic -------------------------------------------------------------------------------------------------------
    async def requests(self, request: web.Request) -> web.Response:
        """Requests the Graph API served, per mailbox, operation and status, and the most in flight at once."""
        return web.json_response(self.state.traffic.summary())

    async def reset_requests(self, request: web.Request) -> web.Response:
        """Forget the request counters."""
        self.state.traffic.reset()
        return web.json_response({"ok": True})

    async def log(self, request: web.Request) -> web.Response:
        """Every request served, in order (``?mailbox=`` for one room)."""
        mailbox = request.query.get("mailbox")
        entries = [e for e in self.state.traffic.log if not mailbox or e["mailbox"] == mailbox.casefold()]
        return web.json_response(entries)

    async def mail(self, request: web.Request) -> web.Response:
        """The mail Exchange would have sent: acceptances, declines, cancellations."""
        return web.json_response(self.state.calendars.assistant.mail)

    async def add_fault(self, request: web.Request) -> web.Response:
        """Make the next matching requests fail: 429 with Retry-After, 5xx, resets, slow answers."""
        try:
            fault = Fault.from_json(await self._body(request))
        except (ValueError, TypeError) as exc:
            return self._fail(exc)
        self.state.traffic.faults.append(fault)
        return web.json_response({"ok": True}, status=201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        """Remove every armed fault."""
        self.state.traffic.faults.clear()
        return web.json_response({"ok": True})

    async def set_latency(self, request: web.Request) -> web.Response:
        """Add a delay to every API request (seconds)."""
        self.state.traffic.latency = float((await self._body(request)).get("seconds", 0.0))
        return web.json_response({"latency": self.state.traffic.latency})

    async def set_concurrency(self, request: web.Request) -> web.Response:
        """Requests in flight per app and mailbox before MailboxConcurrency 429s (and their Retry-After)."""
        data = await self._body(request)
        self.state.traffic.concurrency_limit = int(data.get("limit", self.state.traffic.concurrency_limit))
        self.state.traffic.concurrency_retry_after = str(
            data.get("retryAfter", self.state.traffic.concurrency_retry_after)
        )
        return web.json_response({"limit": self.state.traffic.concurrency_limit})

    async def add_app(self, request: web.Request) -> web.Response:
        """Register an app (client id with a secret, certificate or federated token)."""
        data = await self._body(request)
        self.state.identity.register(
            data["clientId"],
            secret=data.get("secret"),
            certificate_pem=data.get("certificatePem"),
            federated_token=data.get("federatedToken"),
        )
        return web.json_response({"ok": True}, status=201)

    async def expire_tokens(self, request: web.Request) -> web.Response:
        """Expire the tokens issued so far (optionally of one client id)."""
        self.state.identity.expire_tokens((await self._body(request)).get("clientId"))
        return web.json_response({"ok": True})

    async def revoke(self, request: web.Request) -> web.Response:
        """Revoke an app's credentials: token requests fail, issued tokens stop working."""
        self.state.identity.revoke((await self._body(request)).get("clientId"))
        return web.json_response({"ok": True})

    async def expire_delta(self, request: web.Request) -> web.Response:
        """Forget delta tokens (optionally of one mailbox): the next delta answers 410."""
        mailbox = (await self._body(request)).get("mailbox")
        return web.json_response({"expired": self.state.delta.expire(mailbox.casefold() if mailbox else None)})

    async def set_clock(self, request: web.Request) -> web.Response:
        """The tenant's "now" (booking windows are counted from it); ``{"now": null}`` goes back to the wall clock."""
        value = (await self._body(request)).get("now")
        try:
            wanted = datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
        except ValueError as exc:
            return self._fail(exc)
        if wanted is not None and wanted.tzinfo is None:
            return self._fail(ValueError("now must carry an offset"))
        self.state.clock_offset = wanted - datetime.now(UTC) if wanted is not None else timedelta()
        return web.json_response({"now": self.state.calendars.now().isoformat()})

    async def set_delta(self, request: web.Request) -> web.Response:
        """``{"fullObjects": true}``: delta updates carry whole events instead of only what changed;
        ``{"extendedProperties": true}``: entries carry the events' extended properties. A key left out stays."""
        body, delta = await self._body(request), self.state.delta
        if "fullObjects" in body:
            delta.full_objects = bool(body["fullObjects"])
        if "extendedProperties" in body:
            delta.extended_properties = bool(body["extendedProperties"])
        return web.json_response({"fullObjects": delta.full_objects, "extendedProperties": delta.extended_properties})

    async def set_budget(self, request: web.Request) -> web.Response:
        """The per app and mailbox request budget: ``{"requests": 10000, "seconds": 600}``."""
        data = await self._body(request)
        budget = self.state.traffic.budget
        try:
            budget.requests = int(data.get("requests", budget.requests))
            budget.seconds = float(data.get("seconds", budget.seconds))
        except (TypeError, ValueError) as exc:
            return self._fail(exc)
        self.state.traffic.spent.clear()
        return web.json_response({"requests": budget.requests, "seconds": budget.seconds})

    async def set_scope(self, request: web.Request) -> web.Response:
        """Restrict the app to these mailboxes (RBAC for Applications); others answer 403."""
        mailboxes = (await self._body(request)).get("mailboxes")
        self.state.allowed_mailboxes = None if mailboxes is None else {m.casefold() for m in mailboxes}
        return web.json_response({"mailboxes": mailboxes})


INDEX = AdminIndex(
    title="Microsoft Graph sandbox - admin",
    intro="This sandbox plays an Exchange Online tenant: Graph v1.0 at /v1.0 and the Entra ID token endpoint at "
    "/{tenant}/oauth2/v2.0/token, over HTTPS with a CA of its own (the caBundle in the manifests `roomsync sandbox` "
    "prints; curl needs -k or --cacert). Room mailboxes answer meeting requests as Exchange's booking assistant "
    "does. The admin API below plays people in Outlook and lets tests look inside; it needs no credentials. From the "
    "command line, `roomsync sandbox book -f sandbox.yaml calendar ...` and `roomsync sandbox show -f sandbox.yaml` "
    "do the same.",
    person=("/outlook/book", "/outlook/edit", "/outlook/cancel", "/outlook/occurrence", "/rooms/{room}/events"),
    examples={
        "/outlook/book": {
            "organizer": "ben@contoso.example",
            "rooms": ["ams-202@contoso.example"],
            "subject": "Coffee chat",
            "start": "{day}T15:00:00",
            "end": "{day}T16:00:00",
            "timeZone": "Europe/Amsterdam",
        },
        "/outlook/edit": {"iCalUId": "<iCalUId of the meeting>", "subject": "Coffee chat (moved)"},
        "/outlook/cancel": {"iCalUId": "<iCalUId of the meeting>", "comment": "Postponed"},
        "/rooms/{room}/events": {"room": "ams-202@contoso.example"},
    },
    curl="curl -k",
)
