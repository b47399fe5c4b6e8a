"""The shared EWS client of one Connection: exchangelib's configuration, a bounded thread pool, per-budget
concurrency, retries, request counts, and each room mailbox's sync state and cache.

exchangelib is synchronous. Every call runs in this client's :class:`~concurrent.futures.ThreadPoolExecutor`
(``spec.ews.threads`` workers), so the event loop never waits on it, behind an :class:`asyncio.Semaphore` per
throttling budget: per room mailbox with Impersonation (each impersonated mailbox has its own EWS budget), one for
the whole Connection with Delegate access (every room counts against the service account). ``maxConcurrentRequests``
is the size of that semaphore: keep it at or below the server's EWSMaxConcurrency.

exchangelib runs with its fail-fast policy (it retries nothing); :meth:`EwsClient.run` retries instead, knowing
which failures left a write undone (see :mod:`.errors`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from exchangelib import DELEGATE, IMPERSONATION, UTC, Account, Build, Configuration, FailFast, Version
from exchangelib.folders import Calendar, Root, SentItems
from exchangelib.properties import DistinguishedFolderId, Mailbox
from exchangelib.protocol import BaseProtocol, CachingProtocol, Protocol

from roomsync.connectors.base import (
    BackendError,
    Capabilities,
    CreateIdempotency,
    RequestCounts,
    RoomInfo,
    SecretLookup,
    StoreOptions,
    Throttling,
)
from roomsync.connectors.ews import props
from roomsync.connectors.ews.auth import make_credentials
from roomsync.connectors.ews.errors import classify
from roomsync.connectors.ews.settings import DELEGATE as DELEGATE_ACCESS
from roomsync.connectors.ews.settings import EwsSettings, private_tempdir, read_settings
from roomsync.connectors.ews.streaming import EwsStreams
from roomsync.connectors.ews.transport import CallContext, EwsAdapter, current_call
from roomsync.model import RoomPair

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Exchange on-premise with Impersonation: rooms answer requests (booking assistant, or Planon as their delegate),
#: SyncFolderItems makes reads incremental, a series is one master item, a create is made idempotent by looking the
#: link up, each impersonated mailbox has its own budget, GetRoomLists/GetRooms list rooms, UpdateItem refuses a stale
#: ChangeKey (NeverOverwrite).
CAPABILITIES = Capabilities(
    answers_requests=True,
    room_agent=True,
    incremental_reads=True,
    native_series=True,
    create_idempotency=CreateIdempotency.LOOKUP_BY_LINK,
    throttling=Throttling.PER_ROOM,
    room_discovery=True,
    strict_preconditions=True,
    change_notifications=True,
    notifies_over_held_connection=True,
)
#: With Delegate access every room shares the service account's budget.
DELEGATE_CAPABILITIES = replace(CAPABILITIES, throttling=Throttling.PER_ACCOUNT)
VERSIONS = {
    "Exchange2013": Build(15, 0),
    "Exchange2013_SP1": Build(15, 0, 847),
    "Exchange2016": Build(15, 1),
    "Exchange2019": Build(15, 2),
}


def pinned_version(value: str | None) -> Version | None:
    """The exchangelib Version for ``spec.ews.version`` (None: exchangelib asks the server once)."""
    if not value:
        return None
    build = VERSIONS.get(value) or Build(*(int(p) for p in value.split(".")))
    return Version(build=build)


@dataclass(frozen=True)
class MailboxFolders:
    """A room's calendar and sent items, addressed by distinguished id: no GetFolder round trip is needed."""

    account: Account
    calendar: Calendar
    sent: SentItems


class EwsClient:
    backend = "ews"

    def __init__(self, settings: EwsSettings, *, namespace: str = "default") -> None:
        self.settings = settings
        self.namespace = namespace
        self.capabilities = DELEGATE_CAPABILITIES if settings.access_type == DELEGATE_ACCESS else CAPABILITIES
        self.requests = RequestCounts()
        self.link_attr = props.register(settings.link_property)
        self.people_attr = props.register(settings.people_property)
        BaseProtocol.HTTP_ADAPTER_CLS = EwsAdapter  # counts and trust per call; a no-op outside RoomSync's calls
        self._tmp = private_tempdir()
        self._ca_file = settings.ca_file(self._tmp.name)
        credentials, auth_type, self._token_credential = make_credentials(settings, self._ca_file)
        self.config = Configuration(
            service_endpoint=None if settings.autodiscover else settings.url,
            credentials=credentials,
            auth_type=auth_type,
            version=pinned_version(settings.version),
            retry_policy=FailFast(),
            max_connections=settings.threads,
        )
        self._executor = ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="roomsync-ews")
        self._folders: dict[str, MailboxFolders] = {}
        self._folders_lock = threading.Lock()
        self._gates: dict[str, asyncio.Semaphore] = {}
        self._mailboxes: dict[str, Any] = {}
        self.sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
        #: streaming subscriptions on the room calendars (:class:`~roomsync.connectors.push.PushChannels`)
        self.push = EwsStreams(self)

    # -- exchangelib objects (built in worker threads: autodiscover may touch the network) ----------------------------
    def folders(self, mailbox: str) -> MailboxFolders:
        with self._folders_lock:
            found = self._folders.get(mailbox)
            if found is not None:
                return found
            access = DELEGATE if self.settings.access_type == DELEGATE_ACCESS else IMPERSONATION
            account = Account(
                mailbox,
                config=self.config,
                autodiscover=self.settings.autodiscover,
                access_type=access,
                default_timezone=UTC,
            )
            root = Root(account=account)
            account.__dict__["root"] = root  # exchangelib would otherwise GetFolder the root to validate item types
            owner = Mailbox(email_address=mailbox)
            found = MailboxFolders(
                account,
                Calendar(root=root, _distinguished_id=DistinguishedFolderId(id="calendar", mailbox=owner)),
                SentItems(root=root, _distinguished_id=DistinguishedFolderId(id="sentitems", mailbox=owner)),
            )
            self._folders[mailbox] = found
            return found

    # -- running a call --------------------------------------------------------------------------------------------
    def _gate(self, mailbox: str) -> asyncio.Semaphore:
        key = "" if self.settings.access_type == DELEGATE_ACCESS else mailbox
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = asyncio.Semaphore(self.settings.max_concurrent)
        return gate

    async def run(self, mailbox: str, what: str, fn: Callable[[MailboxFolders], T], *, write: bool = False) -> T:
        """``fn(folders)`` in a worker thread, within the mailbox's budget, retried as far as it is safe.

        A read is repeated after throttling, 5xx, time-outs and resets; a write only when Exchange surely did not
        carry it out (ErrorServerBusy, ErrorExceededConnectionCount, no connection). Otherwise the error is raised
        (``WriteUncertain`` for a write that may have happened) and the caller decides.
        """
        return await self._run(mailbox, what, lambda: fn(self.folders(mailbox)), write=write)

    async def run_directory(self, what: str, fn: Callable[[Protocol], T]) -> T:
        """``fn(protocol)`` for requests about no mailbox (room lists), counted under ``""``."""
        if self.config.service_endpoint is None:
            raise BackendError("listing rooms needs spec.ews.url (autodiscover starts from a mailbox)", backend="ews")
        return await self._run("", what, lambda: fn(Protocol(config=self.config)))

    def call_context(self, mailbox: str, timeout: float | None = None) -> CallContext:
        """What the transport needs for one call about ``mailbox`` (a streaming connection waits longer)."""
        return CallContext(self.requests, mailbox, self._ca_file, timeout or self.settings.request_timeout)

    async def _run(self, mailbox: str, what: str, invoke: Callable[[], T], *, write: bool = False) -> T:
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            attempt += 1
            call = self.call_context(mailbox)
            context = contextvars.copy_context()
            context.run(current_call.set, call)
            async with self._gate(mailbox):
                try:
                    return await loop.run_in_executor(self._executor, context.run, invoke)
                except Exception as exc:
                    failure = classify(exc, call, f"{what} ({mailbox or 'directory'})")
                    cause = exc
            retry = failure.retry_write if write else failure.retry_read
            wait = failure.wait if failure.wait is not None else random.uniform(0, min(20.0, 0.5 * 2 ** (attempt - 1)))
            if not retry or attempt >= self.settings.max_attempts or wait > self.settings.max_retry_after:
                raise failure.error from cause
            log.info("ews: %s (%s) failed (%s); attempt %d in %.2fs", what, mailbox, failure.error, attempt + 1, wait)
            self.requests.throttled_seconds += wait
            await self.sleep(wait)

    # -- the port --------------------------------------------------------------------------------------------------
    def mailbox_state(self, mailbox: str) -> Any:
        from roomsync.connectors.ews.mailbox import MailboxState

        key = mailbox.casefold()
        state = self._mailboxes.get(key)
        if state is None:
            state = self._mailboxes[key] = MailboxState(self, key)
        return state

    def store(self, rooms: Sequence[RoomPair], options: StoreOptions) -> Any:
        from roomsync.connectors.ews.store import EwsStore

        return EwsStore(self, rooms, options)

    async def rooms(self) -> list[RoomInfo]:
        from roomsync.connectors.ews.rooms import list_rooms

        return await list_rooms(self)

    async def aclose(self) -> None:
        await self.push.aclose()
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)
        protocols = {id(f.account.protocol): f.account.protocol for f in self._folders.values()}
        for key, (protocol, _) in list(CachingProtocol._protocol_cache.items()):
            if id(protocol) in protocols or key == CachingProtocol._cache_key(self.config):
                CachingProtocol._protocol_cache.pop(key, None)
                if not isinstance(protocol, Exception):
                    protocol.close()
        if self._token_credential is not None:
            self._token_credential.close()
        self._tmp.cleanup()


def open_client(spec: Mapping[str, Any], secrets: SecretLookup, *, namespace: str = "default") -> EwsClient:
    """The registry entry point: ``spec`` is a Connection's ``spec.ews``."""
    return EwsClient(read_settings(spec, secrets), namespace=namespace)
