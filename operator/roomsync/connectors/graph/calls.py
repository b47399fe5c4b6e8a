"""Every Graph call the connector makes, through the msgraph-sdk request builders, one mailbox at a time.

Each request is built by the SDK's request builder (URL template, query parameters, headers) and sent through the
SDK's request adapter and HTTP stack, or, where requests travel in a ``$batch``, through
:class:`~roomsync.connectors.graph.batch.Batcher`. The bodies of creates and updates are JSON objects built by
:mod:`.mapping` (Graph's documented ``event`` shape), not the SDK's generated ``Event`` model: a model costs more
CPU to build and serialize than the rest of a create, and a batched request needs JSON anyway. Answers are read as
JSON, not deserialized into the SDK's generated models: that costs about 1.2 ms of CPU per event, 60 times the JSON
reading, and every read (the delta read of each room in each cycle above all) and every write answers with events
(docs/performance.md; :mod:`.items` reads the JSON).

Each call runs with the mailbox in a context variable (for the transport's per-mailbox slots and counters) and
translates failures into port errors. Links (nextLink / deltaLink) are followed verbatim with ``with_url``.
Writes take the version RoomSync read (``etag``) and send it as ``If-Match``; Graph refuses a stale one (the emulator
answers 412, 409 is taken too) and :class:`~roomsync.connectors.base.PreconditionFailed` follows, nothing written.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Final

from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_abstractions.serialization import ParsableFactory
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import CalendarViewRequestBuilder
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.generated.users.item.events.events_request_builder import EventsRequestBuilder
from msgraph.generated.users.item.events.item.accept.accept_post_request_body import AcceptPostRequestBody
from msgraph.generated.users.item.events.item.cancel.cancel_post_request_body import CancelPostRequestBody
from msgraph.generated.users.item.events.item.decline.decline_post_request_body import DeclinePostRequestBody
from msgraph.generated.users.item.events.item.event_item_request_builder import EventItemRequestBuilder
from msgraph.generated.users.item.events.item.instances.instances_request_builder import InstancesRequestBuilder
from msgraph.generated.users.item.events.item.tentatively_accept.tentatively_accept_post_request_body import (
    TentativelyAcceptPostRequestBody,
)
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient

from roomsync.connectors.base import InvalidResponse
from roomsync.connectors.graph.batch import Batcher
from roomsync.connectors.graph.errors import from_answer, graph_errors
from roomsync.connectors.graph.items import Json
from roomsync.connectors.graph.transport import IDEMPOTENT, PREFER, current_mailbox, retry_safe

UTC = UTC
#: The SDK's error mapping: any error status becomes an ``ODataError`` (an ``APIError``) that errors.py translates.
ERRORS: Final[dict[str, type[ParsableFactory[Any]]]] = {"XXX": ODataError}
JSON: Final = "application/json"
MASTER_FIELDS = [
    "id",
    "iCalUId",
    "type",
    "subject",
    "start",
    "end",
    "isAllDay",
    "organizer",
    "attendees",
    "responseStatus",
    "isOrganizer",
    "isCancelled",
    "recurrence",
    "originalStartTimeZone",
    "lastModifiedDateTime",
    "cancelledOccurrences",
    "seriesMasterId",
    "showAs",
]


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@asynccontextmanager
async def _scope(mailbox: str | None, what: str, *, safe_post: bool = False) -> AsyncIterator[None]:
    token = current_mailbox.set(mailbox)
    safe = retry_safe.set(safe_post)
    try:
        async with graph_errors(f"{what} ({mailbox})" if mailbox else what):
            yield
    finally:
        retry_safe.reset(safe)
        current_mailbox.reset(token)


class Exchange:
    """How a request built by the SDK reaches Graph: on its own through the SDK's request adapter, or in a
    ``$batch`` (``batch_size`` > 1). One per client."""

    def __init__(self, adapter: GraphRequestAdapter, base_url: str, batcher: Batcher | None) -> None:
        self.adapter = adapter
        self.base_url = base_url.rstrip("/")
        self.batcher = batcher

    async def send(
        self,
        mailbox: str | None,
        what: str,
        info: RequestInformation,
        *,
        body: Json | None = None,
        safe_post: bool = False,
    ) -> Any:
        """The answer's JSON (``None`` for an empty one); port errors for failures. ``body``: a JSON body (a write's),
        serialized here when the request travels alone, carried as it is in a ``$batch``."""
        self.adapter.set_base_url_for_request_information(info)  # what the adapter does before it sends
        relative = self._relative(str(info.url)) if self.batcher is not None and mailbox else None
        if self.batcher is None or relative is None or mailbox is None:
            async with _scope(mailbox, what, safe_post=safe_post):
                if body is not None:
                    info.set_stream_content(json.dumps(body).encode(), JSON)
                raw = await self.adapter.send_primitive_async(info, "bytes", ERRORS)
            return json.loads(raw) if raw else None
        # In a $batch: the Batcher counts and throttles per mailbox itself, so no context variables are needed.
        method = info.http_method.name if info.http_method else "GET"
        # kiota keeps header names in lower case; Graph's batch examples spell them canonically (Content-Type), and
        # one Prefer header carries the request's own preferences and the transport's
        headers = {_canonical(k): v for k, v in (info.request_headers or {}).items()}
        present = headers.get("Prefer", "")
        wanted = [p for p in PREFER if p.split("=")[0].lower() not in present.lower()]
        headers["Prefer"] = ", ".join(filter(None, [present, *wanted]))
        if body is None and info.content:
            body = json.loads(info.content)
        if body is not None:
            headers.setdefault("Content-Type", JSON)
        repeatable = method in IDEMPOTENT or safe_post
        async with graph_errors(f"{what} ({mailbox})"):
            answer = await self.batcher.send(mailbox, method, relative, headers, body, repeatable=repeatable)
        if answer.status >= 400:
            raise from_answer(answer.status, answer.body, f"{what} ({mailbox})")
        return answer.body

    async def post_batch(self, payload: bytes, repeatable: bool) -> bytes:
        """One ``POST /$batch`` through the SDK's request adapter (auth, middleware, transport); for the Batcher."""
        info = RequestInformation(Method.POST)
        info.url = f"{self.base_url}/$batch"
        info.headers.try_add("Accept", JSON)
        info.set_stream_content(payload, JSON)
        async with _scope(None, "$batch", safe_post=repeatable):
            raw = await self.adapter.send_primitive_async(info, "bytes", ERRORS)
        if not raw:
            raise InvalidResponse("Graph answered a $batch with an empty body", backend="graph")
        return bytes(raw)

    def _relative(self, url: str) -> str | None:
        """``/users/...`` for a URL under the base URL (what a batch request must name), with query parameter
        names decoded as the SDK's ParametersNameDecodingHandler does (``%24top`` -> ``$top``); None otherwise."""
        if not url.lower().startswith(self.base_url.lower() + "/"):
            return None
        relative = url[len(self.base_url) :]
        path, sep, query = relative.partition("?")
        if not sep:
            return path
        names = [part.replace("%24", "$", 1) if part.startswith("%24") else part for part in query.split("&")]
        return f"{path}?{'&'.join(names)}"


class MailboxCalls:
    """The SDK calls for one room mailbox."""

    def __init__(
        self, graph: GraphServiceClient, exchange: Exchange, mailbox: str, expand_ids: list[str], page_size: int
    ) -> None:
        self.graph = graph
        self.exchange = exchange
        self.mailbox = mailbox
        self.user = graph.users.by_user_id(mailbox)
        self.page_size = page_size
        self.expand = "singleValueExtendedProperties($filter=" + " or ".join(f"id eq '{i}'" for i in expand_ids) + ")"
        self._events: str | None = None

    def _events_url(self) -> str:
        """The mailbox's events collection URL as the SDK's builder expands it (once: an expansion costs about as
        much CPU as the rest of a create)."""
        if self._events is None:
            info = self.user.events.to_get_request_information()
            self.exchange.adapter.set_base_url_for_request_information(info)
            self._events = str(info.url)
        return self._events

    async def _send(
        self, what: str, info: RequestInformation, *, body: Json | None = None, safe_post: bool = False
    ) -> Any:
        return await self.exchange.send(self.mailbox, what, info, body=body, safe_post=safe_post)

    async def _json(self, what: str, info: RequestInformation) -> dict[str, Any]:
        answer = await self._send(what, info)
        if not isinstance(answer, dict):
            raise InvalidResponse(f"Graph answered {what} ({self.mailbox}) without a JSON object", backend="graph")
        return answer

    # -- reads ---------------------------------------------------------------------------------------------------------
    async def calendar_view(self, start: datetime, end: datetime) -> list[Json]:
        """The window with the link properties expanded (calendarView supports $expand, delta does not)."""
        params = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
            start_date_time=iso(start), end_date_time=iso(end), expand=[self.expand], top=self.page_size
        )
        builder = self.user.calendar_view
        info = builder.to_get_request_information(RequestConfiguration(query_parameters=params))
        return await self._all_pages("calendarView", await self._json("calendarView", info), builder)

    async def _all_pages(self, operation: str, page: dict[str, Any], builder: Any) -> list[Json]:
        """The events of a collection answer and of every page its nextLinks lead to (followed verbatim)."""
        events: list[Json] = []
        while True:
            events.extend(page.get("value") or [])
            link = page.get("@odata.nextLink")
            if not link:
                return events
            page = await self._json(f"{operation} page", builder.with_url(link).to_get_request_information())

    async def delta(self, start: datetime, end: datetime, link: str | None) -> tuple[list[Json], str]:
        """One complete delta round (all pages); returns the changes and the new deltaLink."""
        builder = self.user.calendar_view.delta
        config: RequestConfiguration[Any] = RequestConfiguration()  # links carry their own query: headers only
        config.headers.add("Prefer", f"odata.maxpagesize={self.page_size}")
        if link is None:
            first: RequestConfiguration[Any] = RequestConfiguration(
                query_parameters=DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
                    start_date_time=iso(start), end_date_time=iso(end)
                )
            )
            first.headers.add("Prefer", f"odata.maxpagesize={self.page_size}")
            info = builder.to_get_request_information(first)
        else:
            info = builder.with_url(link).to_get_request_information(config)
        page = await self._send("delta", info)
        events: list[Json] = []
        while True:
            if not isinstance(page, dict):
                raise InvalidResponse("Graph answered a delta request with an empty body", backend="graph")
            events.extend(page.get("value") or [])
            if page.get("@odata.deltaLink"):
                return events, str(page["@odata.deltaLink"])
            next_link = page.get("@odata.nextLink")
            if not next_link:
                raise InvalidResponse(
                    "Graph delta page has neither @odata.nextLink nor @odata.deltaLink (truncated?)", backend="graph"
                )
            page = await self._send("delta page", builder.with_url(next_link).to_get_request_information(config))

    async def get(self, event_id: str, *, master: bool = False) -> Json:
        params = EventItemRequestBuilder.EventItemRequestBuilderGetQueryParameters(
            expand=[self.expand, "exceptionOccurrences"] if master else [self.expand],
            select=MASTER_FIELDS if master else None,
        )
        builder = self.user.events.by_event_id(event_id)
        info = builder.to_get_request_information(RequestConfiguration(query_parameters=params))
        return await self._json("get event", info)

    async def find_by_uid(self, ical_uid: str) -> list[Json]:
        """Singles and series masters with this iCalUId, also outside any window (for lookups)."""
        safe_uid = ical_uid.replace("'", "''")
        params = EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(
            filter=f"iCalUId eq '{safe_uid}'", expand=[self.expand], top=10
        )
        info = self.user.events.to_get_request_information(RequestConfiguration(query_parameters=params))
        page = await self._json("find by iCalUId", info)
        return list(page.get("value") or [])

    async def instances(self, master_id: str, start: datetime, end: datetime) -> list[Json]:
        params = InstancesRequestBuilder.InstancesRequestBuilderGetQueryParameters(
            start_date_time=iso(start), end_date_time=iso(end), top=self.page_size
        )
        builder = self.user.events.by_event_id(master_id).instances
        info = builder.to_get_request_information(RequestConfiguration(query_parameters=params))
        return await self._all_pages("instances page", await self._json("instances", info), builder)

    async def mailbox_time_zone(self) -> str | None:
        """The zone of the mailbox (mailboxSettings, ``MailboxSettings.Read``); None when never set."""
        settings = await self._json("mailbox settings", self.user.mailbox_settings.to_get_request_information())
        return settings.get("timeZone") or None

    # -- writes --------------------------------------------------------------------------------------------------------
    async def create(self, event: Json) -> Json:
        """POST; repeatable only because the body carries a transactionId (Graph answers a repeat with the first).
        The URL is the events collection's as the SDK's builder expands it, expanded once (see ``_events_url``)."""
        info = _json_request(Method.POST)
        info.url = self._events_url()
        created = await self._send("create event", info, body=event, safe_post=bool(event.get("transactionId")))
        if not isinstance(created, dict):
            raise InvalidResponse("Graph answered a create without the event", backend="graph")
        return created

    async def patch(self, event_id: str, event: Json, etag: str | None) -> Json:
        """PATCH of the properties ``event`` holds, at the URL of the SDK's event item builder."""
        builder = self.user.events.by_event_id(event_id)
        info = _json_request(Method.PATCH, builder.url_template, builder.path_parameters)
        info.configure(_if_match(etag))
        answer = await self._send("update event", info, body=event)
        if not isinstance(answer, dict):
            raise InvalidResponse("Graph answered an update without the event", backend="graph")
        return answer

    async def delete(self, event_id: str, etag: str | None) -> None:
        await self._send(
            "delete event", self.user.events.by_event_id(event_id).to_delete_request_information(_if_match(etag))
        )

    async def cancel(self, event_id: str, comment: str, etag: str | None) -> None:
        body = CancelPostRequestBody(comment=comment)
        builder = self.user.events.by_event_id(event_id).cancel
        await self._send("cancel meeting", builder.to_post_request_information(body, _if_match(etag)))

    async def respond(self, event_id: str, action: str, comment: str, etag: str | None) -> None:
        item = self.user.events.by_event_id(event_id)
        config = _if_match(etag)
        if action == "accept":
            body = AcceptPostRequestBody(comment=comment, send_response=True)
            await self._send("accept", item.accept.to_post_request_information(body, config))
        elif action == "decline":
            declined = DeclinePostRequestBody(comment=comment, send_response=True)
            await self._send("decline", item.decline.to_post_request_information(declined, config))
        else:
            tentative = TentativelyAcceptPostRequestBody(comment=comment, send_response=True)
            await self._send(
                "tentativelyAccept", item.tentatively_accept.to_post_request_information(tentative, config)
            )


def _canonical(name: str) -> str:
    """``content-type`` -> ``Content-Type``."""
    return "-".join(part.capitalize() for part in name.split("-"))


def _json_request(
    method: Method, url_template: str | None = None, path_parameters: dict[str, Any] | None = None
) -> RequestInformation:
    """A request answered with JSON whose JSON body the caller hands to :meth:`Exchange.send`, as the SDK's
    ``to_post_request_information`` / ``to_patch_request_information`` build it but without a model to serialize."""
    info = RequestInformation(method, url_template, dict(path_parameters or {}))
    info.headers.try_add("Accept", JSON)
    return info


def _if_match(etag: str | None) -> RequestConfiguration[Any]:
    """``If-Match: <etag>`` (Graph's ``W/"..."`` form as read), or no precondition."""
    config: RequestConfiguration[Any] = RequestConfiguration()
    if etag:
        config.headers.add("If-Match", etag)
    return config
