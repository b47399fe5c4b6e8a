"""``POST /EWS/Exchange.asmx``: authentication (Basic, NTLM with a connection-bound handshake, OAuth bearer tokens
from the shared Entra endpoint), the impersonation and delegate checks, EWSMaxConcurrency, injected faults, the
request log - and then the operation.

How a request is attributed: the impersonated mailbox when the SOAP header carries ``ExchangeImpersonation``
(exchangelib always does with access type Impersonation), else ``X-AnchorMailbox`` or the mailbox a folder id names
(delegate access). Throttling budgets follow Exchange: per impersonated mailbox, per service account for a delegate.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import weakref
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import CIMultiDict

from roomsync.sandbox.ews import ntlm, soap
from roomsync.sandbox.ews.accounts import Principal
from roomsync.sandbox.ews.operations import DIRECTORY_OPERATIONS, OPERATIONS, Call
from roomsync.sandbox.ews.soap import SoapFault, local_name, t
from roomsync.sandbox.ews.traffic import EwsFault
from roomsync.sandbox.ews.zones import UnknownZone, zone

if TYPE_CHECKING:
    from roomsync.sandbox.ews.state import EwsState
    from roomsync.sandbox.graph.server import SandboxState

PATH = "/EWS/Exchange.asmx"
#: how the request log names an injected fault (the EWS code the client sees, or what happened on the wire)
FAULT_CODES = {
    "ServerBusy": "ErrorServerBusy",
    "ConnectionCount": "ErrorExceededConnectionCount",
    "Unavailable": "HTTP 503",
    "Reset": "ConnectionReset",
}


class Unauthorized(Exception):
    def __init__(self, reason: str, challenge: str | None = None) -> None:
        super().__init__(reason)
        self.challenge = challenge


class EwsEndpoint:
    def __init__(self, state: SandboxState, ews: EwsState) -> None:
        self.state, self.ews = state, ews
        #: per TCP connection: a pending NTLM challenge, or the principal it authenticated
        self._connections: weakref.WeakKeyDictionary[Any, ntlm.PendingChallenge | Principal] = (
            weakref.WeakKeyDictionary()
        )

    def routes(self) -> list[web.RouteDef]:
        return [web.post(PATH, self.handle)]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Every request that may have changed a mailbox (either face, a person in Outlook) queues the streaming
        events it causes."""
        try:
            return await handler(request)  # type: ignore[no-any-return]
        finally:
            if request.method != "GET":
                self.ews.streaming.changed(self.state.mailboxes)

    # -- authentication --------------------------------------------------------------------------------------------
    def _unauthorized(self, reason: str, challenge: str | None = None) -> web.Response:
        headers: CIMultiDict[str] = CIMultiDict()
        if challenge is not None:
            headers.add("WWW-Authenticate", challenge)
        else:
            if "NTLM" in self.ews.schemes:
                headers.add("WWW-Authenticate", "Negotiate")
                headers.add("WWW-Authenticate", "NTLM")
            if "Basic" in self.ews.schemes:
                headers.add("WWW-Authenticate", f'Basic realm="{self.ews.dns_domain}"')
            if "Bearer" in self.ews.schemes:
                headers.add("WWW-Authenticate", 'Bearer client_id="00000002-0000-0ff1-ce00-000000000000"')
        headers["Content-Type"] = "text/html"
        return web.Response(status=401, text=f"401 - Unauthorized: {reason}", headers=headers)

    def _authenticate(self, request: web.Request) -> Principal:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        connection = request.transport
        if not header:
            known = self._connections.get(connection)
            if isinstance(known, Principal):
                return known  # an NTLM-authenticated connection (IIS keeps it authenticated)
            raise Unauthorized("no credentials")
        if scheme.lower() == "basic" and "Basic" in self.ews.schemes:
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise Unauthorized("malformed Basic credentials") from None
            domain, _, name = user.rpartition("\\")
            account = self.ews.accounts.find(domain, name)
            if account is None or account.password != password:
                raise Unauthorized(f"logon failed for {user}")
            return self.ews.accounts.principal(account, "Basic")
        if scheme.lower() in ("ntlm", "negotiate") and "NTLM" in self.ews.schemes:
            try:
                token = base64.b64decode(value)
                kind = ntlm.message_type(token)
                if kind == 1:
                    answer, challenge = ntlm.challenge(token, self.ews.dns_domain)
                    self._connections[connection] = challenge
                    raise Unauthorized("NTLM challenge", f"{scheme} {base64.b64encode(answer).decode()}")
                pending = self._connections.get(connection)
                if kind != 3 or not isinstance(pending, ntlm.PendingChallenge):
                    raise ntlm.NtlmError("AUTHENTICATE without a challenge on this connection")
                domain, user = ntlm.authenticate(token, pending, self.ews.accounts.password_of)
            except (binascii.Error, ntlm.NtlmError) as exc:
                self._connections.pop(connection, None)
                raise Unauthorized(str(exc)) from None
            account = self.ews.accounts.find(domain, user)
            assert account is not None
            principal = self.ews.accounts.principal(account, "NTLM")
            self._connections[connection] = principal
            return principal
        if scheme.lower() == "bearer" and "Bearer" in self.ews.schemes:
            problem = self.state.identity.check_bearer(header)
            if problem is not None:
                raise Unauthorized(problem)
            issued = self.state.identity.tokens[value.strip()]
            return self.ews.accounts.app_principal(issued.client_id)
        raise Unauthorized(f"authentication scheme {scheme!r} is not enabled")

    # -- addressing ------------------------------------------------------------------------------------------------
    @staticmethod
    def _target(request: web.Request, header: ET.Element | None, op: ET.Element) -> tuple[str | None, bool]:
        """(mailbox address, impersonating)."""
        if header is not None:
            sid = header.find(f"{t('ExchangeImpersonation')}/{t('ConnectingSID')}")
            if sid is not None:
                for tag in ("PrimarySmtpAddress", "SmtpAddress", "PrincipalName"):
                    value = sid.findtext(t(tag))
                    if value:
                        return value.strip().casefold(), True
                raise SoapFault("ErrorImpersonateUserDenied", "The impersonation header names nobody.")
        anchor = request.headers.get("X-AnchorMailbox")
        if anchor:
            return anchor.strip().casefold(), False
        for elem in op.iter(t("EmailAddress")):
            if elem.text and "@" in elem.text:
                return elem.text.strip().casefold(), False
        return None, False

    def _call(
        self,
        principal: Principal,
        header: ET.Element | None,
        op: ET.Element,
        request: web.Request,
        entry: dict[str, Any],
    ) -> Call:
        operation = local_name(op.tag)
        tz = "UTC"
        definition = header.find(f"{t('TimeZoneContext')}/{t('TimeZoneDefinition')}") if header is not None else None
        if definition is not None and definition.get("Id"):
            try:
                zone(definition.get("Id", ""))
                tz = definition.get("Id", "UTC")
            except UnknownZone:
                raise SoapFault("ErrorTimeZone", f"Time zone {definition.get('Id')!r} is not valid.") from None
        if operation in DIRECTORY_OPERATIONS:
            return Call(self.state, self.ews, principal, None, tz)
        address, impersonating = self._target(request, header, op)
        entry.update(mailbox=address, impersonated=impersonating)
        if address is None:
            raise SoapFault("ErrorNonExistentMailbox", "The request names no mailbox.")
        if impersonating and not principal.may_impersonate(address):
            raise SoapFault(
                "ErrorImpersonateUserDenied", "The account does not have permission to impersonate the requested user."
            )
        if not impersonating and not principal.may_open(address):
            raise SoapFault("ErrorAccessDenied", f"Access is denied. Check credentials and try again ({address}).")
        box = self.state.mailboxes.get(address)
        if box is None:
            raise SoapFault("ErrorNonExistentMailbox", f"The SMTP address has no mailbox associated with it: {address}")
        return Call(self.state, self.ews, principal, box, tz)

    # -- the request -------------------------------------------------------------------------------------------------
    @staticmethod
    def _xml(root: ET.Element, status: int = 200) -> web.Response:
        return web.Response(status=status, body=soap.to_bytes(root), content_type="text/xml", charset="utf-8")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        payload = await request.read()
        traffic = self.ews.traffic
        entry: dict[str, Any] = {"mailbox": None, "operation": "-", "status": 0, "code": "NoError"}
        try:
            response = await self._handle(request, payload, entry)
        except ConnectionResetError:
            entry["status"] = -1
            traffic.record(entry)
            raise
        entry["status"] = response.status
        traffic.record(entry)
        return response

    async def _handle(self, request: web.Request, payload: bytes, entry: dict[str, Any]) -> web.StreamResponse:
        traffic = self.ews.traffic
        try:
            principal = self._authenticate(request)
        except Unauthorized as exc:
            entry["code"] = "Unauthorized"
            return self._unauthorized(str(exc), exc.challenge)
        entry.update(principal=principal.name, scheme=principal.scheme)
        try:
            header, op = soap.parse_request(payload)
            operation = local_name(op.tag)
            entry["operation"] = operation
            handler = OPERATIONS.get(operation)
            if handler is None:
                raise SoapFault("ErrorInvalidRequest", f"The operation {operation} is not emulated.")
            call = self._call(principal, header, op, request, entry)
        except SoapFault as exc:
            entry["code"] = exc.code
            return self._xml(soap.fault(exc.code, exc.message), 500)
        mailbox = call.box.address if call.box else None
        fault = traffic.take_fault(mailbox, operation)
        if fault is not None:
            entry["fault"] = fault.kind
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if not fault.after:
                early = self._fault(request, fault)
                if early is not None:
                    entry["code"] = FAULT_CODES.get(fault.kind, fault.code)
                    return early
        if operation == "GetStreamingEvents":  # held open: counted against the streaming connections, not here
            return await self.ews.streaming.serve(request, call, op)
        budget = mailbox if entry.get("impersonated") or mailbox is None else f"account:{principal.name}"
        try:
            if not traffic.enter(budget or "-"):
                entry["code"] = "ErrorExceededConnectionCount"
                return self._xml(
                    soap.fault(
                        "ErrorExceededConnectionCount",
                        "You have exceeded the available concurrent connections for your account.",
                    ),
                    500,
                )
            if traffic.latency:
                await asyncio.sleep(traffic.latency)
            content = OPERATIONS[operation](call, op)
        except SoapFault as exc:
            entry["code"] = exc.code
            return self._xml(soap.fault(exc.code, exc.message), 500)
        finally:
            traffic.leave(budget or "-")
        entry["code"] = _first_code(content)
        entry.update(details(op, content))
        if fault is not None and fault.after:
            entry.update(code=FAULT_CODES.get(fault.kind, fault.code), lost=True)  # carried out, answer lost
            late = self._fault(request, fault)
            if late is not None:
                return late
        return self._xml(soap.envelope(content))

    def _fault(self, request: web.Request, fault: EwsFault) -> web.Response | None:
        if fault.kind == "Reset":
            assert request.transport is not None
            request.transport.abort()
            raise ConnectionResetError("injected connection reset")
        if fault.kind == "ServerBusy":
            body = soap.fault(
                "ErrorServerBusy", "The server cannot service this request right now.", back_off_ms=fault.back_off_ms
            )
            return self._xml(body, 500)
        if fault.kind == "ConnectionCount":
            body = soap.fault(
                "ErrorExceededConnectionCount",
                "You have exceeded the available concurrent connections for your account.",
            )
            return self._xml(body, 500)
        if fault.kind == "InternalError":
            return self._xml(soap.fault(fault.code, "An internal server error occurred. The operation failed."), 500)
        if fault.kind == "Unavailable":
            return web.Response(status=503, text="Service Unavailable", content_type="text/html")
        return None  # Delay: only slow


def details(op: ET.Element, content: ET.Element) -> dict[str, Any]:
    """What the request log keeps of a request beyond its operation: the view, sync state and shape, the fields an
    update sets, the invitations a create sends - enough for tests to see which calls the client made."""
    operation = local_name(op.tag)
    info: dict[str, Any] = {}
    shape = op.find(soap.m("ItemShape"))
    if shape is not None:
        info["shape"] = shape.findtext(t("BaseShape"))
        info["properties"] = len(shape.find(t("AdditionalProperties")) or [])
    if operation == "FindItem":
        view = op.find(soap.m("CalendarView"))
        if view is not None:
            info["view"] = (view.get("StartDate"), view.get("EndDate"))
        info["restricted"] = op.find(soap.m("Restriction")) is not None
        info["items"] = len(content.findall(f".//{t('Items')}/*"))
    elif operation == "SyncFolderItems":
        info["state"] = bool((op.findtext(soap.m("SyncState")) or "").strip())
        info["max"] = int(op.findtext(soap.m("MaxChangesReturned")) or 0)
        info["changes"] = len(content.findall(f".//{soap.m('Changes')}/*"))
    elif operation in ("GetItem", "DeleteItem"):
        info["ids"] = len(op.find(soap.m("ItemIds")) or [])
    elif operation == "UpdateItem":
        info["conflictResolution"] = op.get("ConflictResolution")
        info["send"] = op.get("SendMeetingInvitationsOrCancellations")
        info["fields"] = sorted(
            {u.get("FieldURI") or u.get("PropertyName") or "extended" for u in op.iter() if u.tag in URI_TAGS}
        )
    elif operation == "CreateItem":
        info["items"] = [local_name(i.tag) for i in op.find(soap.m("Items")) or []]
        info["send"] = op.get("SendMeetingInvitations")
        info["disposition"] = op.get("MessageDisposition")
    return info


URI_TAGS = frozenset({t("FieldURI"), t("ExtendedFieldURI")})


def _first_code(content: ET.Element) -> str:
    code = content.find(f".//{soap.m('ResponseCode')}")
    return code.text if code is not None and code.text else "NoError"
