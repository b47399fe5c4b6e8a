"""Every Graph call the connector makes, through the msgraph-sdk request builders, one mailbox at a time.

Each call runs with the mailbox in a context variable (for the transport's per-mailbox slots and counters) and
translates failures into port errors. Links (nextLink / deltaLink) are followed verbatim with ``with_url``.
Writes take the version RoomSync read (``etag``) and send it as ``If-Match``; Graph refuses a stale one (the emulator
answers 412, 409 is taken too) and :class:`~roomsync.connectors.base.PreconditionFailed` follows, nothing written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.event import Event
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
from msgraph.graph_service_client import GraphServiceClient

from roomsync.connectors.base import InvalidResponse
from roomsync.connectors.graph.errors import graph_errors
from roomsync.connectors.graph.transport import current_mailbox, retry_safe

T = TypeVar("T")
UTC = UTC
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
async def _scope(mailbox: str, what: str, *, safe_post: bool = False) -> AsyncIterator[None]:
    token = current_mailbox.set(mailbox)
    safe = retry_safe.set(safe_post)
    try:
        async with graph_errors(f"{what} ({mailbox})"):
            yield
    finally:
        retry_safe.reset(safe)
        current_mailbox.reset(token)


class MailboxCalls:
    """The SDK calls for one room mailbox."""

    def __init__(self, graph: GraphServiceClient, mailbox: str, expand_ids: list[str], page_size: int) -> None:
        self.graph = graph
        self.mailbox = mailbox
        self.user = graph.users.by_user_id(mailbox)
        self.page_size = page_size
        self.expand = "singleValueExtendedProperties($filter=" + " or ".join(f"id eq '{i}'" for i in expand_ids) + ")"

    async def _run(self, what: str, call: Callable[[], Awaitable[T]], *, safe_post: bool = False) -> T:
        async with _scope(self.mailbox, what, safe_post=safe_post):
            return await call()

    # -- reads ---------------------------------------------------------------------------------------------------------
    async def calendar_view(self, start: datetime, end: datetime) -> list[Event]:
        """The window with the link properties expanded (calendarView supports $expand, delta does not)."""
        params = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
            start_date_time=iso(start), end_date_time=iso(end), expand=[self.expand], top=self.page_size
        )
        builder = self.user.calendar_view
        page = await self._run("calendarView", lambda: builder.get(RequestConfiguration(query_parameters=params)))
        return await self._all_pages("calendarView page", page, builder)

    async def _all_pages(self, operation: str, page: Any, builder: Any) -> list[Event]:
        """The events of a collection answer and of every page its nextLinks lead to (followed verbatim)."""
        events: list[Event] = []
        while page is not None:
            events.extend(page.value or [])
            link = page.odata_next_link
            if not link:
                break
            page = await self._run(operation, lambda link=link: builder.with_url(link).get())  # type: ignore[misc]
        return events

    async def delta(self, start: datetime, end: datetime, link: str | None) -> tuple[list[Event], str]:
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
            page = await self._run("delta", lambda: builder.get(first))
        else:
            page = await self._run("delta", lambda: builder.with_url(link).get(config))
        events: list[Event] = []
        while True:
            if page is None:
                raise InvalidResponse("Graph answered a delta request with an empty body", backend="graph")
            events.extend(page.value or [])
            if page.odata_delta_link:
                return events, page.odata_delta_link
            next_link = page.odata_next_link
            if not next_link:
                raise InvalidResponse(
                    "Graph delta page has neither @odata.nextLink nor @odata.deltaLink (truncated?)", backend="graph"
                )
            page = await self._run("delta page", lambda next_link=next_link: builder.with_url(next_link).get(config))  # type: ignore[misc]

    async def get(self, event_id: str, *, master: bool = False) -> Event:
        params = EventItemRequestBuilder.EventItemRequestBuilderGetQueryParameters(
            expand=[self.expand, "exceptionOccurrences"] if master else [self.expand],
            select=MASTER_FIELDS if master else None,
        )
        builder = self.user.events.by_event_id(event_id)
        event = await self._run("get event", lambda: builder.get(RequestConfiguration(query_parameters=params)))
        if event is None:
            raise ValueError("empty event answer")
        return event

    async def find_by_uid(self, ical_uid: str) -> list[Event]:
        """Singles and series masters with this iCalUId, also outside any window (for lookups)."""
        safe_uid = ical_uid.replace("'", "''")
        params = EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(
            filter=f"iCalUId eq '{safe_uid}'", expand=[self.expand], top=10
        )
        page = await self._run(
            "find by iCalUId", lambda: self.user.events.get(RequestConfiguration(query_parameters=params))
        )
        return list(page.value or []) if page else []

    async def instances(self, master_id: str, start: datetime, end: datetime) -> list[Event]:
        params = InstancesRequestBuilder.InstancesRequestBuilderGetQueryParameters(
            start_date_time=iso(start), end_date_time=iso(end), top=self.page_size
        )
        builder = self.user.events.by_event_id(master_id).instances
        page = await self._run("instances", lambda: builder.get(RequestConfiguration(query_parameters=params)))
        return await self._all_pages("instances page", page, builder)

    async def mailbox_time_zone(self) -> str | None:
        """The zone of the mailbox (mailboxSettings, ``MailboxSettings.Read``); None when never set."""
        settings = await self._run("mailbox settings", lambda: self.user.mailbox_settings.get())
        return (settings.time_zone or None) if settings is not None else None

    # -- writes --------------------------------------------------------------------------------------------------------
    async def create(self, event: Event) -> Event:
        """POST; repeatable only because the body carries a transactionId (Graph answers a repeat with the first)."""
        created = await self._run(
            "create event", lambda: self.user.events.post(event), safe_post=bool(event.transaction_id)
        )
        if created is None:
            raise ValueError("empty create answer")
        return created

    async def patch(self, event_id: str, event: Event, etag: str | None) -> Event:
        builder = self.user.events.by_event_id(event_id)
        answer = await self._run("update event", lambda: builder.patch(event, _if_match(etag)))
        if answer is None:
            raise ValueError("empty update answer")
        return answer

    async def delete(self, event_id: str, etag: str | None) -> None:
        builder = self.user.events.by_event_id(event_id)
        await self._run("delete event", lambda: builder.delete(_if_match(etag)))

    async def cancel(self, event_id: str, comment: str, etag: str | None) -> None:
        body = CancelPostRequestBody(comment=comment)
        builder = self.user.events.by_event_id(event_id).cancel
        await self._run("cancel meeting", lambda: builder.post(body, _if_match(etag)))

    async def respond(self, event_id: str, action: str, comment: str, etag: str | None) -> None:
        item = self.user.events.by_event_id(event_id)
        config = _if_match(etag)
        if action == "accept":
            body = AcceptPostRequestBody(comment=comment, send_response=True)
            await self._run("accept", lambda: item.accept.post(body, config))
        elif action == "decline":
            declined = DeclinePostRequestBody(comment=comment, send_response=True)
            await self._run("decline", lambda: item.decline.post(declined, config))
        else:
            tentative = TentativelyAcceptPostRequestBody(comment=comment, send_response=True)
            await self._run("tentativelyAccept", lambda: item.tentatively_accept.post(tentative, config))


def _if_match(etag: str | None) -> RequestConfiguration[Any]:
    """``If-Match: <etag>`` (Graph's ``W/"..."`` form as read), or no precondition."""
    config: RequestConfiguration[Any] = RequestConfiguration()
    if etag:
        config.headers.add("If-Match", etag)
    return config
