"""The shard Leases kept on a thread of their own, so that a busy operator does not lose its shards.

A replica running 1,000 to 2,000 rooms keeps its event loop busy for long stretches (parsing calendars, planning,
writing status). Renewing the Leases on that loop made a renewal wait behind that work: a round overran the renew
deadline and a live replica cancelled its own workers, or let its Leases expire and lost its shards to another
replica. client-go's leader election avoids this by renewing from a goroutine of its own; this is the same for
asyncio: :class:`LeaseThread` runs the :class:`~roomsync.k8s.sharding.ShardElector` on a dedicated thread with its
own event loop and its own HTTP session to the API server (an :class:`~roomsync.k8s.kubeapi.ApiKube` on the same
:class:`~roomsync.k8s.kubeapi.Credentials`, so a repeated kopf login reaches it too).

The elector's decisions reach the controller on the operator's main loop thread-safely (:class:`OnLoop`): a shard
acquired starts its workers through ``call_soon_threadsafe``; a shard lost or handed over runs the controller's
coroutine there (``run_coroutine_threadsafe``) while the keeper goes on renewing the other shards. The guarantees are
the elector's: every write is conditional on the ``resourceVersion`` read, workers start only after the Lease was
taken, and a shard not renewed for the renew deadline is given up (its workers cancelled) before its Lease can
expire for anyone else. A main loop blocked for a while delays only the start and stop of workers, which run on that
loop and cannot write while it is blocked.

Stopping (:meth:`LeaseThread.aclose`, awaited on the main loop) lets the keeper hand every shard over (the
controller stops its workers on the main loop), release the Leases, delete the member Lease, close its session and
end its thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from roomsync.k8s.kubeapi import ApiKube, Credentials
from roomsync.k8s.metrics import Metrics
from roomsync.k8s.sharding import ShardElector, ShardingOptions, ShardOwner

log = logging.getLogger(__name__)


class OnLoop:
    """A :class:`ShardOwner` living on another event loop (the controller on the operator's main loop), seen from
    the keeper's thread. Losing and handing over wait until the owner has stopped the shard's workers."""

    def __init__(self, owner: ShardOwner, loop: asyncio.AbstractEventLoop) -> None:
        self.owner = owner
        self.loop = loop

    def shard_acquired(self, shard: int) -> None:
        self.loop.call_soon_threadsafe(self.owner.shard_acquired, shard)

    async def shard_lost(self, shard: int) -> None:
        await self._there(self.owner.shard_lost(shard))

    async def shard_handed_over(self, shard: int) -> None:
        await self._there(self.owner.shard_handed_over(shard))

    async def _there(self, call: Coroutine[Any, Any, None]) -> None:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call, self.loop))


class LeaseThread:
    """A :class:`ShardElector` on its own thread and event loop (see the module docstring); driven from the main
    loop: :meth:`start` once logged in, :meth:`drain` when stopping, :meth:`aclose` last."""

    def __init__(
        self,
        credentials: Credentials,
        options: ShardingOptions,
        owner: ShardOwner,
        *,
        clock: Callable[[], datetime],
        metrics: Metrics | None = None,
        user_agent: str | None = None,
    ) -> None:
        self.api = ApiKube(credentials, user_agent=user_agent)  # its own session: opened and closed on the thread
        self.owner = owner
        self.elector = ShardElector(self.api, options, owner, clock=clock, metrics=metrics)
        self.thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ended: concurrent.futures.Future[None] = concurrent.futures.Future()

    @property
    def held(self) -> dict[int, Any]:
        """The shards held (a snapshot: the keeper's thread changes them)."""
        return dict(self.elector.held)

    @property
    def members(self) -> int:
        return self.elector.members

    def start(self) -> None:
        """Start the keeper's thread; it holds the shards for the owner on the calling (main) event loop."""
        self.elector.owner = OnLoop(self.owner, asyncio.get_running_loop())
        started = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(started,), name=f"shard leases ({self.elector.options.identity})", daemon=True
        )
        self.thread.start()
        started.wait()

    def drain(self) -> None:
        """Take no more shards (thread-safe)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.elector.drain)

    async def aclose(self) -> None:
        """Hand the shards over, release their Leases and end the thread; awaited on the main loop, which stays free
        to stop the workers meanwhile."""
        if self._loop is None or self._stopping is None:
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        await asyncio.wrap_future(self._ended)
        assert self.thread is not None
        self.thread.join()

    def _run(self, started: threading.Event) -> None:
        try:
            asyncio.run(self._keep(started))
        except Exception as error:  # logged here: nobody awaits the thread but aclose, which must still return
            log.error("shard leases: the keeper's thread failed: %s", error, exc_info=True)
        finally:
            started.set()  # also when it failed before it was started
            self._ended.set_result(None)

    async def _keep(self, started: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        started.set()
        try:
            self.elector.start()
            await self._stopping.wait()
        finally:
            try:
                await self.elector.aclose()
            finally:
                await self.api.aclose()
