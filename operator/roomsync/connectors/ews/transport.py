"""The HTTP layer under exchangelib: every request counted per mailbox, the Connection's CA trust and time-out, and
a record of what happened on the wire for the error classification.

exchangelib creates its ``requests`` sessions itself and only lets a program choose the adapter *class*
(``BaseProtocol.HTTP_ADAPTER_CLS``, process-wide). So the adapter learns whose request it carries from a context
variable that :meth:`EwsClient.run` sets around each call in the worker thread: the Connection's counters, its CA
file (requests would otherwise let ``REQUESTS_CA_BUNDLE`` override a session's trust), its time-out. Requests made
outside such a call (none in RoomSync) pass through unchanged.

Attribution: exchangelib sends ``X-AnchorMailbox: <room>`` on every mailbox request; directory requests (room lists)
have none and count under ``""``. The operation is the SOAP body's first element (``FindItem``, ``SyncFolderItems``
...). NTLM's handshake legs (401) are requests too and are counted as such.
"""

from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass, field
from typing import Any

import requests
import requests.adapters
from urllib3.exceptions import NewConnectionError

from roomsync.connectors.base import RequestCounts

_OPERATION = re.compile(rb"<(?:\w+:)?Body>\s*<(?:\w+:)?(\w+)")
_ERROR_CODE = re.compile(rb"<(?:\w+:)?ResponseCode>\s*(Error\w+)\s*<")


@dataclass
class CallContext:
    """What one exchangelib call in a worker thread needs from its Connection, and what it saw on the wire."""

    counts: RequestCounts
    mailbox: str
    verify: str | None
    timeout: float
    #: every HTTP outcome of this call: a status code, "connect-error" (nothing sent), "timeout" or "reset"
    events: list[int | str] = field(default_factory=list)
    #: EWS error codes the answers carried (read here because exchangelib cannot parse every error answer: a
    #: SyncFolderItems error without a SyncState element makes it fail with an AttributeError)
    codes: set[str] = field(default_factory=set)

    @property
    def last(self) -> int | str | None:
        return self.events[-1] if self.events else None


current_call: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar("roomsync_ews_call", default=None)


def operation_of(body: Any) -> str:
    if isinstance(body, str):
        body = body.encode()
    match = _OPERATION.search(body[:4096]) if isinstance(body, bytes) else None
    return match.group(1).decode() if match else "unknown"


def _failure_kind(exc: Exception) -> str:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect-error"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.SSLError):
        return "tls-error"
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, NewConnectionError) or isinstance(exc.args[0] if exc.args else None, NewConnectionError):
        return "connect-error"
    return "reset"


class EwsAdapter(requests.adapters.HTTPAdapter):
    """Installed as exchangelib's adapter class by :class:`~roomsync.connectors.ews.client.EwsClient`."""

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        call = current_call.get()
        if call is None:
            return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        if call.verify is not None:
            verify = call.verify
        mailbox = str(request.headers.get("X-AnchorMailbox") or call.mailbox).casefold()
        operation = operation_of(request.body)
        try:
            response = super().send(
                request, stream=stream, timeout=call.timeout, verify=verify, cert=cert, proxies=proxies
            )
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            kind = _failure_kind(exc)
            call.events.append(kind)
            call.counts.add(mailbox, operation, kind)
            raise
        call.events.append(response.status_code)
        call.counts.add(mailbox, operation, response.status_code)
        if not stream and response.status_code in (200, 500):  # a 401 is left alone: NTLM reads its socket
            call.codes.update(code.decode() for code in _ERROR_CODE.findall(response.content))
        return response
