"""The shared Graph client of one Connection: credential and token cache, the HTTP stack, per-mailbox state.

The SDK's HTTP stack is kept (kiota middleware: redirects, parameter-name decoding, user agent, telemetry) except
its RetryHandler, which is replaced by :class:`~roomsync.connectors.graph.transport.MailboxTransport` at the bottom
of the same stack (see that module for why), over :class:`~roomsync.connectors.graph.proxy.EnvironmentProxies`
(``HTTPS_PROXY``/``NO_PROXY``, which azure-identity's token requests honour on their own). Everything that
RoomSyncs sharing the Connection share lives here: the token cache, the per-mailbox concurrency slots and request
counters, the ``$batch`` collector (:mod:`.batch`), and each mailbox's deltaLink and cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import RetryHandler
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory
from msgraph_core.middleware import GraphTelemetryHandler

from roomsync.connectors.base import (
    Capabilities,
    CreateIdempotency,
    RequestCounts,
    RoomInfo,
    SecretLookup,
    StoreOptions,
    Throttling,
)
from roomsync.connectors.graph.batch import Batcher
from roomsync.connectors.graph.cache import MailboxState
from roomsync.connectors.graph.calls import Exchange, MailboxCalls
from roomsync.connectors.graph.errors import token_error
from roomsync.connectors.graph.proxy import EnvironmentProxies
from roomsync.connectors.graph.rooms import list_rooms
from roomsync.connectors.graph.settings import (
    GraphSettings,
    SerializedCredential,
    make_credential,
    private_tempdir,
    read_settings,
)
from roomsync.connectors.graph.subscriptions import GraphPush
from roomsync.connectors.graph.transport import MailboxTransport, RetryPolicy
from roomsync.model import RoomPair

#: Exchange Online: the room mailbox answers requests (its booking assistant decides unless Planon leads), reads are
#: incremental (calendarView delta), a create is idempotent by transactionId, every mailbox has its own budget.
CAPABILITIES = Capabilities(
    answers_requests=True,
    room_agent=True,
    incremental_reads=True,
    native_series=True,
    create_idempotency=CreateIdempotency.TRANSACTION_ID,
    throttling=Throttling.PER_ROOM,
    room_discovery=True,
    change_notifications=True,
)


class GraphClient:
    capabilities = CAPABILITIES
    backend = "graph"

    def __init__(self, settings: GraphSettings, *, namespace: str = "default") -> None:
        self.settings = settings
        self.namespace = namespace
        self._tmp = private_tempdir()
        self.credential = SerializedCredential(
            make_credential(settings, self._tmp.name), lambda exc: token_error(exc, settings)
        )
        #: mailbox -> the room key a RoomSync gives it (request counts are per room)
        self.room_keys: dict[str, str] = {}
        #: every room mailbox of every store (casefolded): the mailbox caches tell rooms' meetings from people's
        self.room_mailboxes: set[str] = set()
        context = settings.ssl_context()
        self.transport = MailboxTransport(
            EnvironmentProxies(
                lambda proxy: httpx.AsyncHTTPTransport(
                    verify=context,
                    http2=True,
                    retries=0,
                    proxy=proxy,
                    limits=httpx.Limits(
                        max_connections=settings.max_in_flight, max_keepalive_connections=settings.max_in_flight
                    ),
                )
            ),
            max_concurrent=settings.max_concurrent,
            max_in_flight=settings.max_in_flight,
            policy=RetryPolicy(max_attempts=settings.max_attempts, max_retry_after=settings.max_retry_after),
            room_of=lambda mailbox: self.room_keys.get(mailbox, mailbox),
        )
        http = httpx.AsyncClient(
            transport=self.transport,
            base_url=settings.base_url,
            timeout=httpx.Timeout(settings.request_timeout, connect=min(30.0, settings.request_timeout)),
        )
        middleware = [m for m in KiotaClientFactory.get_default_middleware(None) if not isinstance(m, RetryHandler)]
        middleware.append(GraphTelemetryHandler())
        http = GraphClientFactory.create_with_custom_middleware(middleware=middleware, client=http)
        auth = AzureIdentityAuthenticationProvider(self.credential, scopes=[settings.scope])
        adapter = GraphRequestAdapter(auth, client=http)
        adapter.base_url = settings.base_url
        self.graph = GraphServiceClient(request_adapter=adapter)
        self.exchange = Exchange(adapter, settings.base_url, None)
        if settings.batch_size > 1:
            self.exchange.batcher = Batcher(self.exchange.post_batch, self.transport, size=settings.batch_size)
        self._http = http
        self._mailboxes: dict[str, MailboxState] = {}
        self.push = GraphPush(self)

    @property
    def requests(self) -> RequestCounts:
        """Every HTTP attempt per (room, operation, status), and the time spent throttled: metrics, benchmarks."""
        return self.transport.requests

    def mailbox_state(self, mailbox: str) -> MailboxState:
        key = mailbox.casefold()
        state = self._mailboxes.get(key)
        if state is None:
            s = self.settings
            calls = MailboxCalls(
                self.graph, self.exchange, key, [s.link_property_id, s.people_property_id], s.page_size
            )
            state = self._mailboxes[key] = MailboxState(
                calls, s.link_property_id, s.people_property_id, room_mailboxes=self.room_mailboxes
            )
        return state

    def calls(self, mailbox: str) -> MailboxCalls:
        return self.mailbox_state(mailbox).calls

    def store(self, rooms: Sequence[RoomPair], options: StoreOptions) -> Any:
        from roomsync.connectors.graph.store import GraphStore

        self.room_keys.update({r.calendar: r.key for r in rooms})
        self.room_mailboxes.update(r.calendar.casefold() for r in rooms)
        return GraphStore(self, rooms, options)

    async def rooms(self) -> list[RoomInfo]:
        """The tenant's room mailboxes (places API, ``Place.Read.All``), keyed by address as a RoomSync's
        ``calendar`` names them."""
        return await list_rooms(self.graph, page_size=self.settings.page_size)

    async def aclose(self) -> None:
        await self._http.aclose()
        await self.credential.close()
        self._tmp.cleanup()


def open_client(spec: Mapping[str, Any], secrets: SecretLookup, *, namespace: str = "default") -> GraphClient:
    """The registry entry point: ``spec`` is a Connection's ``spec.graph``."""
    return GraphClient(read_settings(spec, secrets, namespace=namespace), namespace=namespace)
