"""Graph change notifications as Graph sends them (graph-and-ews.md 1.9): ``/subscriptions`` and the deliveries.

Subscriptions (``POST/GET /subscriptions``, ``GET/PATCH/DELETE /subscriptions/{id}``, ``POST .../reauthorize``):

- ``resource`` is ``users/{id}/events`` or ``users/{id}/calendar/events`` (with or without a leading ``/``) of a
  mailbox the app may read; ``changeType`` a subset of ``created,updated,deleted``; ``notificationUrl`` and
  ``lifecycleNotificationUrl`` https; ``clientState`` at most 128 characters; ``expirationDateTime`` in the future.
- Lifetime: the emulator's choice is the stricter documented maximum for Outlook resources, **4,230 minutes**
  (the live documentation reportedly allows 10,080 [unconfirmed]); a later expiration is refused with 400, an
  expiration under 45 minutes is raised to 45 minutes. An expired subscription stops delivering and is gone.
- Before answering 201, the notification URL (and the lifecycle URL, when different) is validated: ``POST
  {url}?validationToken={token}`` with ``Content-Type: text/plain; charset=utf-8``; anything but 200 with the token as
  body within 10 seconds refuses the subscription with 400.
- ``GET /subscriptions`` lists the calling app's subscriptions, without their ``clientState`` (the emulator's
  choice: the connector must not need it back).

Deliveries: after every request that changed a subscribed mailbox, the mailbox's events are compared with what was
last notified; each created, updated or deleted event is one notification (``changeType``, ``resource``
``Users/{user id}/Events/{event id}`` with the mailbox's object id, ``resourceData``, ``clientState``,
``subscriptionId``, ``subscriptionExpirationDateTime``, ``tenantId``), batched per subscription as ``{"value": [...]}``.
A 2xx within 3 seconds acknowledges; anything else is retried (Graph retries for up to 4 hours; the emulator's
schedule is :data:`~roomsync.sandbox.outbound.DEFAULT_RETRY_DELAYS`). Lifecycle notifications
(``reauthorizationRequired``, ``subscriptionRemoved``, ``missed``) go to the lifecycle URL when the admin API asks
(``POST /_admin/subscriptions/{id}/lifecycle``); ``subscriptionRemoved`` also removes the subscription.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from roomsync.sandbox.graph.model import change_key
from roomsync.sandbox.outbound import Delivery, Outbound, delivery_admin_routes

if TYPE_CHECKING:
    from roomsync.sandbox.graph.server import SandboxState

MAX_LIFETIME = timedelta(minutes=4230)
MIN_LIFETIME = timedelta(minutes=45)
CHANGE_TYPES = frozenset({"created", "updated", "deleted"})
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
_RESOURCE = re.compile(r"^/?users/([^/]+)/(?:calendar/)?events$", re.IGNORECASE)


class SubscriptionError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def user_id(mailbox: str) -> str:
    """The mailbox's directory object id (what Graph puts in a notification's ``resource``)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"graph-sandbox:{mailbox}"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


@dataclass
class Subscription:
    id: str
    app: str
    mailbox: str
    resource: str
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expires: datetime
    #: event id -> change key, as of the last notification (what the next one is compared with)
    seen: dict[str, str] = field(default_factory=dict)
    seen_clock: int = -1

    def to_json(self, *, with_state: bool = True) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.app,
            "changeType": ",".join(sorted(self.change_types)),
            "clientState": self.client_state if with_state else None,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": _iso(self.expires),
            "creatorId": self.app,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationQueryOptions": None,
            "notificationUrlAppId": None,
        }


class Notifications:
    """The tenant's subscriptions and the notification pipeline."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.subscriptions: dict[str, Subscription] = {}
        self.outbound = Outbound(acknowledged=lambda s: 200 <= s < 300, retried=lambda s: True, timeout=3.0)
        self.validation = Outbound(acknowledged=lambda s: s == 200, retried=lambda s: False, timeout=10.0)

    def now(self) -> datetime:
        return self.state.calendars.now()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Every request that may have changed a mailbox (the API's writes, a person in Outlook) is followed by
        the notifications it causes."""
        try:
            return await handler(request)  # type: ignore[no-any-return]
        finally:
            if request.method != "GET":
                self.changed()

    def trust(self, ca_pem: str) -> None:
        self.outbound.trust(ca_pem)
        self.validation.trust(ca_pem)

    # -- the API --------------------------------------------------------------------------------------------------
    async def api(self, request: web.Request, segments: list[str], app: str, body: Any) -> web.Response:
        """``/v1.0/subscriptions[/{id}[/reauthorize]]``; raises :class:`SubscriptionError` for Graph's errors."""
        self._expire()
        method, rest = request.method, segments[1:]
        base = f"{request.scheme}://{request.host}/v1.0"
        if not rest and method == "POST":
            made = await self._create(app, body if isinstance(body, dict) else {})
            return web.json_response(
                {"@odata.context": f"{base}/$metadata#subscriptions/$entity", **made.to_json()}, status=201
            )
        if not rest and method == "GET":
            mine = [s.to_json(with_state=False) for s in self.subscriptions.values() if s.app == app]
            return web.json_response({"@odata.context": f"{base}/$metadata#subscriptions", "value": mine})
        found = self.subscriptions.get(rest[0]) if rest else None
        if found is None or found.app != app:
            raise SubscriptionError(404, "ResourceNotFound", f"The object was not found: subscription {rest[:1]}")
        if len(rest) == 2 and rest[1].lower() == "reauthorize" and method == "POST":
            return web.Response(status=204)
        if len(rest) != 1:
            raise SubscriptionError(400, "BadRequest", "Resource not found for the segment.")
        if method == "GET":
            return web.json_response(found.to_json(with_state=False))
        if method == "PATCH":
            found.expires = self._expiration((body or {}).get("expirationDateTime") if isinstance(body, dict) else None)
            return web.json_response(found.to_json())
        if method == "DELETE":
            del self.subscriptions[found.id]
            return web.Response(status=204)
        raise SubscriptionError(405, "BadRequest", "Method not allowed.")

    async def _create(self, app: str, body: dict[str, Any]) -> Subscription:
        resource = str(body.get("resource") or "")
        match = _RESOURCE.match(resource)
        if match is None:
            raise SubscriptionError(400, "InvalidRequest", f"Unsupported resource '{resource}' for events.")
        mailbox = match.group(1).casefold()
        if mailbox not in self.state.mailboxes:
            raise SubscriptionError(404, "ResourceNotFound", f"Resource '{resource}' does not exist.")
        allowed = self.state.allowed_mailboxes
        if allowed is not None and mailbox not in allowed:
            raise SubscriptionError(403, "ExtensionError", "Operation: Create; Exception: [Access is denied.]")
        types = frozenset(t.strip() for t in str(body.get("changeType") or "").split(",") if t.strip())
        if not types or not types <= CHANGE_TYPES:
            raise SubscriptionError(400, "InvalidRequest", "changeType must be a list of created, updated, deleted.")
        url = str(body.get("notificationUrl") or "")
        lifecycle = body.get("lifecycleNotificationUrl")
        for name, value in (("notificationUrl", url), ("lifecycleNotificationUrl", lifecycle)):
            if value is not None and not str(value).startswith("https://"):
                raise SubscriptionError(400, "InvalidRequest", f"The {name} must be an https URL.")
        state = body.get("clientState")
        if state is not None and len(str(state)) > 128:
            raise SubscriptionError(400, "InvalidRequest", "clientState cannot be longer than 128 characters.")
        expires = self._expiration(body.get("expirationDateTime"))
        for target in dict.fromkeys([url, *([str(lifecycle)] if lifecycle else [])]):
            await self._validate(target)
        box = self.state.mailboxes[mailbox]
        made = Subscription(
            id=str(uuid.uuid4()),
            app=app,
            mailbox=mailbox,
            resource=resource,
            change_types=types,
            notification_url=url,
            lifecycle_url=str(lifecycle) if lifecycle else None,
            client_state=str(state) if state is not None else None,
            expires=expires,
            seen=self._versions(mailbox),
            seen_clock=box.clock,
        )
        self.subscriptions[made.id] = made
        return made

    def _expiration(self, value: Any) -> datetime:
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise SubscriptionError(
                400, "InvalidRequest", "expirationDateTime is required and must be a date-time."
            ) from None
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
        now = self.now()
        if when <= now:
            raise SubscriptionError(400, "InvalidRequest", "Subscription expiration must be in the future.")
        if when - now > MAX_LIFETIME + timedelta(minutes=1):
            raise SubscriptionError(
                400,
                "InvalidRequest",
                f"Subscription expiration can only be {MAX_LIFETIME.total_seconds() // 60:.0f} minutes in the future.",
            )
        return max(when, now + MIN_LIFETIME)

    async def _validate(self, url: str) -> None:
        token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        target = f"{url}{'&' if '?' in url else '?'}validationToken={quote(token)}"
        delivery = Delivery(target, b"", {"Content-Type": "text/plain; charset=utf-8"}, "validation")
        try:
            status, text = await self.validation.call(delivery)
        except Exception as error:
            self.validation.log.append({"label": "validation", "url": url, "status": type(error).__name__})
            raise SubscriptionError(
                400,
                "InvalidRequest",
                f"Subscription validation request failed. {type(error).__name__} reaching the notification endpoint.",
            ) from None
        self.validation.log.append({"label": "validation", "url": url, "status": status})
        if status != 200 or text != token:
            raise SubscriptionError(
                400,
                "InvalidRequest",
                "Subscription validation request failed. Notification endpoint must respond with 200 OK to "
                "validation request.",
            )

    # -- change detection and delivery -------------------------------------------------------------------------------
    def _versions(self, mailbox: str) -> dict[str, str]:
        box = self.state.mailboxes.get(mailbox)
        if box is None:
            return {}
        return {event.id: change_key(event.id, event.version) for event in box.events.values()}

    def _expire(self) -> None:
        now = self.now()
        for sub_id in [s.id for s in self.subscriptions.values() if s.expires <= now]:
            del self.subscriptions[sub_id]  # Graph deletes an expired subscription; nothing is sent

    def changed(self) -> None:
        """After a request: notify what changed in every subscribed mailbox since the last notification."""
        if not self.subscriptions:
            return
        self._expire()
        by_url: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for sub in self.subscriptions.values():
            box = self.state.mailboxes.get(sub.mailbox)
            if box is None or box.clock == sub.seen_clock:
                continue
            now_seen = self._versions(sub.mailbox)
            changes = [("created", i) for i in now_seen if i not in sub.seen]
            changes += [("updated", i) for i, key in now_seen.items() if i in sub.seen and sub.seen[i] != key]
            changes += [("deleted", i) for i in sub.seen if i not in now_seen]
            sub.seen, sub.seen_clock = now_seen, box.clock
            for change_type, event_id in changes:
                if change_type in sub.change_types:
                    by_url.setdefault((sub.notification_url, sub.id), []).append(
                        self._notification(sub, change_type, event_id, now_seen.get(event_id))
                    )
        for (url, sub_id), items in by_url.items():
            body = json.dumps({"value": items}).encode()
            self.outbound.send(Delivery(url, body, {"Content-Type": "application/json"}, f"{sub_id} change"))

    def _notification(self, sub: Subscription, change_type: str, event_id: str, key: str | None) -> dict[str, Any]:
        resource = f"Users/{user_id(sub.mailbox)}/Events/{event_id}"
        data: dict[str, Any] = {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": resource, "id": event_id}
        if key is not None:
            data["@odata.etag"] = f'W/"{key}"'
        return {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": _iso(sub.expires),
            "changeType": change_type,
            "resource": resource,
            "resourceData": data,
            "clientState": sub.client_state,
            "tenantId": self.state.identity.tenant_id,
        }

    def lifecycle(self, sub_id: str, event: str) -> None:
        """Send a lifecycle notification; ``subscriptionRemoved`` also removes the subscription."""
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"lifecycle event must be one of {', '.join(LIFECYCLE_EVENTS)}")
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            raise KeyError(sub_id)
        item = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": _iso(sub.expires),
            "tenantId": self.state.identity.tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }
        if event == "subscriptionRemoved":
            del self.subscriptions[sub.id]
        body = json.dumps({"value": [item]}).encode()
        url = sub.lifecycle_url or sub.notification_url
        self.outbound.send(Delivery(url, body, {"Content-Type": "application/json"}, f"{sub.id} {event}"))

    def expire(self, sub_id: str) -> None:
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            raise KeyError(sub_id)
        sub.expires = self.now()
        self._expire()

    async def aclose(self) -> None:
        await self.outbound.aclose()
        await self.validation.aclose()

    # -- admin ----------------------------------------------------------------------------------------------------
    def admin_routes(self) -> list[web.RouteDef]:
        return [
            web.get("/_admin/subscriptions", self._admin_list),
            web.post("/_admin/subscriptions/{id}/lifecycle", self._admin_lifecycle),
            web.post("/_admin/subscriptions/{id}/expire", self._admin_expire),
            *delivery_admin_routes(
                self.outbound, trust=self.trust, log=lambda: self.outbound.log + self.validation.log
            ),
        ]

    async def _admin_list(self, _: web.Request) -> web.Response:
        """The change-notification subscriptions Graph holds, per mailbox."""
        self._expire()
        return web.json_response([s.to_json() | {"mailbox": s.mailbox} for s in self.subscriptions.values()])

    async def _admin_lifecycle(self, request: web.Request) -> web.Response:
        """Send a lifecycle notification (e.g. reauthorizationRequired) for a subscription."""
        body = await request.json()
        try:
            self.lifecycle(request.match_info["id"], str(body.get("event")))
        except KeyError:
            return web.json_response({"error": "no such subscription"}, status=404)
        except ValueError as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response({"ok": True})

    async def _admin_expire(self, request: web.Request) -> web.Response:
        """Make a subscription expire now, as Graph does when it is not renewed."""
        try:
            self.expire(request.match_info["id"])
        except KeyError:
            return web.json_response({"error": "no such subscription"}, status=404)
        return web.json_response({"ok": True})
