"""Replicas that share the RoomSyncs: shards held with ``coordination.k8s.io/v1`` Leases.

Every RoomSync belongs to one of a fixed number of **shards** (``--shards``, default 16): a stable hash of
``namespace/name`` (:func:`shard_of`, SHA-256, so every replica and every Python process agrees), and so does every
Connection and ClusterConnection (``kind/namespace/name``), whose health check runs once, on the replica holding its
shard. Each shard is a Lease ``<name>-shard-<i>`` in the operator's namespace, held by at most one replica; a replica
runs the workers of exactly the RoomSyncs of the shards it holds. Every replica watches every RoomSync (so the index
of who claimed which room stays whole) and starts nothing it does not own.

The Leases follow client-go's leader election (``holderIdentity``, ``leaseDurationSeconds``, ``acquireTime``,
``renewTime``, ``leaseTransitions``; every write is a PUT carrying the ``resourceVersion`` it read, so of two replicas
racing for a shard the API server lets exactly one win, the other gets 409):

* every ``retryPeriod`` a replica lists the Leases of its set, renews the shards it holds and its own **member**
  Lease (``<name>-member-<hash of its identity>``), which is how replicas count each other;
* a Lease is expired for a replica when it has not changed for ``leaseDurationSeconds`` since that replica first saw
  its current version (its own clock, as client-go does, so clocks need not agree); a released Lease (no holder) is
  free at once;
* **fair share**: with ``M`` live members each replica holds up to ``ceil(shards / M)``: it takes free or expired
  shards up to that, and hands over the shards beyond it (stops their workers, letting a running cycle finish and
  write its status, then releases the Lease). Shards are only ever released above the ceiling and taken below it,
  so the split settles and does not flap; each replica prefers its own shards (rendezvous hashing), so racing
  replicas seldom want the same one;
* **never two writers**: a replica that has not renewed a shard for ``renewDeadline`` (< ``leaseDurationSeconds``)
  cancels that shard's workers at once, before any other replica can see the Lease expire; a replica starts a
  shard's workers only after its write taking the Lease succeeded; a Lease found held by another replica is given up
  at once;
* the elector runs on an event loop of its own, in a thread of its own (:mod:`roomsync.k8s.lease_thread`), so the
  renewals do not wait behind the workers on the operator's busy main loop; the owner's callbacks are handed to that
  loop, and a lost shard's are not waited for by the rounds (the shard is not taken again before they are done);
* a replica stopping gracefully (SIGTERM) stops its workers, then releases its Leases and deletes its member Lease:
  the others take over within one ``retryPeriod``. A replica that dies holds its shards until their Leases expire:
  the others take them over within ``leaseDurationSeconds`` plus at most two ``retryPeriod`` (one to notice, one to
  take them);
* replicas that disagree about the number of shards would map RoomSyncs differently: a replica takes no shard while
  a live member announces another count (``roomsync.io/shards`` on its member Lease), so a changed ``--shards`` takes
  effect once every replica started with the old one is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import re
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from roomsync.k8s.kubeapi import KubeAccessError
from roomsync.k8s.metrics import Metrics
from roomsync.k8s.tasks import outside_kopf

log = logging.getLogger(__name__)

DEFAULT_SHARDS = 16
#: client-go's leader-election defaults.
DEFAULT_LEASE_DURATION = 15
DEFAULT_RENEW_DEADLINE = 10.0
DEFAULT_RETRY_PERIOD = 2.0

SET_LABEL = "roomsync.io/lease-set"
ROLE_LABEL = "roomsync.io/lease-role"
SHARD_LABEL = "roomsync.io/shard"
SHARDS_ANNOTATION = "roomsync.io/shards"
SHARD, MEMBER = "shard", "member"
#: A lease-set name leaves room for ``-member-<10 hex>`` in a 63-character label value and a Lease name.
NAME_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
#: A member Lease expired for this many lease durations belongs to a replica that is gone: it is deleted.
PRUNE_AFTER = 4
#: What a failed Lease request raises (aiohttp's connection errors are OSErrors).
LEASE_ERRORS = (KubeAccessError, OSError, ValueError)


def shard_of(key: str, shards: int) -> int:
    """The shard of ``key`` (``namespace/name`` of a RoomSync, ``kind/namespace/name`` of a Connection)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % shards


def roomsync_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def connection_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


@dataclass(frozen=True)
class ShardingOptions:
    """``--shard-leases NAME`` and its companions; the timings are client-go's leader-election defaults."""

    name: str
    namespace: str
    identity: str
    shards: int = DEFAULT_SHARDS
    lease_duration: int = DEFAULT_LEASE_DURATION  # seconds: leaseDurationSeconds is an integer
    renew_deadline: float = DEFAULT_RENEW_DEADLINE
    retry_period: float = DEFAULT_RETRY_PERIOD

    def problems(self) -> list[str]:
        found = []
        if not NAME_PATTERN.match(self.name):
            found.append(f"--shard-leases must be a DNS label of at most 40 characters, got {self.name!r}")
        if not 1 <= self.shards <= 1024:
            found.append(f"--shards must be between 1 and 1024, got {self.shards}")
        if self.lease_duration < 1:
            found.append(f"--lease-duration must be at least 1s, got {self.lease_duration}s")
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            found.append(
                "the lease timings must satisfy 0 < --retry-period < --renew-deadline < --lease-duration (a replica "
                f"stops a shard's workers before another may take it), got {self.retry_period:g}s, "
                f"{self.renew_deadline:g}s, {self.lease_duration}s"
            )
        if not self.identity:
            found.append("the replica identity must not be empty")
        return found

    def shard_lease(self, shard: int) -> str:
        return f"{self.name}-shard-{shard}"

    @property
    def member_lease(self) -> str:
        return f"{self.name}-member-{hashlib.sha256(self.identity.encode()).hexdigest()[:10]}"


class Ownership:
    """Which RoomSyncs and Connections this replica runs: all of them (standalone), or those of the shards it holds."""

    def __init__(self, shards: int | None = None) -> None:
        self.shards = shards
        self.held: set[int] = set()

    def shard(self, key: str) -> int | None:
        return None if self.shards is None else shard_of(key, self.shards)

    def owns(self, key: str) -> bool:
        return self.shards is None or shard_of(key, self.shards) in self.held


@dataclass(frozen=True)
class Lease:
    """What a replica needs of a Lease object."""

    name: str
    resource_version: str
    role: str
    holder: str | None
    duration: int
    transitions: int
    acquire_time: str | None
    shards: int | None  # a member's announced shard count

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Lease:
        meta, spec = body.get("metadata") or {}, body.get("spec") or {}
        announced = (meta.get("annotations") or {}).get(SHARDS_ANNOTATION)
        return cls(
            name=str(meta.get("name")),
            resource_version=str(meta.get("resourceVersion") or ""),
            role=str((meta.get("labels") or {}).get(ROLE_LABEL) or ""),
            holder=spec.get("holderIdentity") or None,
            duration=int(spec.get("leaseDurationSeconds") or 0),
            transitions=int(spec.get("leaseTransitions") or 0),
            acquire_time=spec.get("acquireTime"),
            shards=int(announced) if announced and str(announced).isdigit() else None,
        )


class LeaseApi(Protocol):
    async def list_leases(self, namespace: str, selector: str) -> list[dict[str, Any]]: ...

    async def create_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any] | None: ...

    async def replace_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any] | None: ...

    async def delete_lease(self, namespace: str, name: str, resource_version: str) -> bool: ...


class ShardOwner(Protocol):
    """What runs a shard's workers (the controller)."""

    def shard_acquired(self, shard: int) -> None:
        """The Lease is ours: start the shard's workers."""

    async def shard_lost(self, shard: int) -> None:
        """The Lease may no longer be ours: cancel the shard's workers now."""

    async def shard_handed_over(self, shard: int) -> None:
        """The Lease is about to be released: stop the shard's workers, letting running cycles finish."""


@dataclass
class _Held:
    resource_version: str
    renewed_at: float  # loop time at which the last successful write of the Lease was sent
    transitions: int
    acquire_time: str
    handing_over: asyncio.Task[None] | None = None
    released_workers: bool = False  # handed over: release the Lease at the next round


class ShardElector:
    """Holds this replica's share of the shard Leases (see the module docstring)."""

    def __init__(
        self,
        api: LeaseApi,
        options: ShardingOptions,
        owner: ShardOwner,
        *,
        clock: Any,
        metrics: Metrics | None = None,
    ) -> None:
        self.api = api
        self.options = options
        self.owner = owner
        self.clock = clock
        self.metrics = metrics
        self.held: dict[int, _Held] = {}
        self.losing: dict[int, asyncio.Task[None]] = {}  # shards lost whose workers the owner is still stopping
        self.members: int = 1  # live members (this one included) seen in the last round
        self._observed: dict[str, tuple[str, float]] = {}  # Lease name -> (resourceVersion, loop time first seen)
        self._member_version: str | None = None
        self._draining = False
        self._disagreement: frozenset[int | None] = frozenset()
        self._acquired = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    # -- life cycle ---------------------------------------------------------------------------------------------------
    def start(self) -> None:
        for run, what in ((self._rounds, "rounds"), (self._deadlines, "renew deadlines")):
            task = asyncio.create_task(run(), name=f"shard leases: {what}", context=outside_kopf())
            self.tasks.append(task)

    def drain(self) -> None:
        """Take no more shards (the replica is stopping); keep renewing those held until they are released."""
        self._draining = True

    async def aclose(self) -> None:
        """Stop renewing; stop the workers of every shard held, then release its Lease and delete the member Lease,
        so the other replicas take over at once."""
        self._draining = True
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks = []
        await asyncio.gather(*self.losing.values(), return_exceptions=True)
        for shard in sorted(self.held):
            await self.owner.shard_handed_over(shard)
        await _all(self._release(shard, retries=3) for shard in sorted(self.held))
        await _all([self._leave()])

    # -- one round every retryPeriod ----------------------------------------------------------------------------------
    async def _rounds(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            try:
                # As client-go's renew loop: one try may take up to the renew deadline (a slow API server must not
                # cancel every renewal), then the next starts a retry period after this one began.
                async with asyncio.timeout(self.options.renew_deadline):
                    await self._round()
            except TimeoutError:
                log.warning(
                    "shard leases: a round took longer than the renew deadline (%gs)", self.options.renew_deadline
                )
            except LEASE_ERRORS as error:
                log.warning("shard leases: %s", error)
            if self.metrics is not None:
                self.metrics.shards(len(self.held), self.members)
            await asyncio.sleep(max(0.0, began + self.options.retry_period - loop.time()))

    async def _round(self) -> None:
        loop = asyncio.get_running_loop()
        listed = [Lease.of(body) for body in await self.api.list_leases(self.options.namespace, self._selector)]
        seen_at = loop.time()
        leases = {lease.name: lease for lease in listed}
        for lease in listed:
            if self._observed.get(lease.name, ("", 0.0))[0] != lease.resource_version:
                self._observed[lease.name] = (lease.resource_version, seen_at)
        for name in set(self._observed) - set(leases):
            del self._observed[name]

        # What this replica holds comes first: give up what is no longer ours, renew the rest.
        for shard in list(self.held):
            current = leases.get(self.options.shard_lease(shard))
            if current is None or current.holder != self.options.identity:
                holder = "deleted" if current is None else f"held by {current.holder or 'nobody'}"
                self._lose(shard, f"its Lease is {holder}")
            else:
                self.held[shard].resource_version = current.resource_version
        await _all(self._renew_or_release(shard) for shard in list(self.held))
        await _all([self._keep_membership(leases.get(self.options.member_lease))])
        await _all(self._prune(lease) for lease in leases.values() if self._stale_member(lease, seen_at))

        members = self._live_members(leases, seen_at)
        self.members = len(members)
        if self._draining:
            return
        counts = frozenset(members.values())
        if counts != {self.options.shards}:
            if counts != self._disagreement:
                log.warning(
                    "shard leases: live replicas announce different shard counts %s; taking no shard until every "
                    "replica uses --shards %d",
                    sorted(counts, key=str),
                    self.options.shards,
                )
            self._disagreement = counts
            return
        self._disagreement = frozenset()
        share = math.ceil(self.options.shards / len(members))
        keeping = [s for s, held in self.held.items() if held.handing_over is None]
        if len(keeping) > share:
            for shard in sorted(keeping, key=self._preference)[: len(keeping) - share]:
                self._hand_over(shard)
        elif len(keeping) < share:
            wanted = self._free(leases, seen_at)[: share - len(keeping)]
            await _all(self._acquire(shard, leases.get(self.options.shard_lease(shard))) for shard in wanted)

    @property
    def _selector(self) -> str:
        return f"{SET_LABEL}={self.options.name}"

    def _live_members(self, leases: Mapping[str, Lease], now: float) -> dict[str, int | None]:
        """Identity -> announced shard count of every member whose Lease has not expired, this replica included."""
        members: dict[str, int | None] = {self.options.identity: self.options.shards}
        for lease in leases.values():
            if lease.role == MEMBER and lease.holder and not self._expired(lease, now):
                members.setdefault(lease.holder, lease.shards)
        return members

    def _stale_member(self, lease: Lease, now: float) -> bool:
        """A member Lease of a replica gone for good (expired for ``PRUNE_AFTER`` lease durations): deleted, so the
        Leases of replicas replaced over months do not pile up."""
        if lease.role != MEMBER or lease.holder == self.options.identity:
            return False
        version, since = self._observed.get(lease.name, ("", now))
        return version == lease.resource_version and now - since >= max(lease.duration, 1) * PRUNE_AFTER

    async def _prune(self, lease: Lease) -> None:
        if await self.api.delete_lease(self.options.namespace, lease.name, lease.resource_version):
            log.info("shard leases: deleted the member Lease of %s, gone since long", lease.holder or "a replica")

    def _expired(self, lease: Lease, now: float) -> bool:
        if not lease.holder:
            return True  # released
        version, since = self._observed.get(lease.name, ("", now))
        return version == lease.resource_version and now - since >= lease.duration

    def _free(self, leases: Mapping[str, Lease], now: float) -> list[int]:
        """Shards this replica may take, most preferred first: missing, released, expired, or still held by this
        replica from before (a renewal whose answer was lost)."""
        free = []
        for shard in range(self.options.shards):
            if shard in self.held or shard in self.losing:
                continue
            lease = leases.get(self.options.shard_lease(shard))
            if lease is None or lease.holder == self.options.identity or self._expired(lease, now):
                free.append(shard)
        return sorted(free, key=self._preference, reverse=True)

    def _preference(self, shard: int) -> bytes:
        """Rendezvous hashing: each replica ranks the shards differently, so racing replicas seldom collide."""
        return hashlib.sha256(f"{self.options.identity}/{shard}".encode()).digest()

    # -- writing Leases -----------------------------------------------------------------------------------------------
    def _body(self, name: str, role: str, holder: str | None, version: str | None, **spec: Any) -> dict[str, Any]:
        labels = {SET_LABEL: self.options.name, ROLE_LABEL: role}
        meta: dict[str, Any] = {"name": name, "namespace": self.options.namespace, "labels": labels}
        if role == MEMBER:
            meta["annotations"] = {SHARDS_ANNOTATION: str(self.options.shards)}
        else:
            labels[SHARD_LABEL] = name.rsplit("-", 1)[1]
        if version:
            meta["resourceVersion"] = version
        values = {"holderIdentity": holder, "leaseDurationSeconds": self.options.lease_duration, **spec}
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": {key: value for key, value in values.items() if value is not None},
        }

    async def _write(self, body: dict[str, Any], create: bool) -> dict[str, Any] | None:
        if create:
            return await self.api.create_lease(self.options.namespace, body)
        return await self.api.replace_lease(self.options.namespace, body)

    async def _keep_membership(self, lease: Lease | None) -> None:
        now = _micro_time(self.clock())
        acquired = lease.acquire_time if lease is not None and lease.holder == self.options.identity else now
        version = lease.resource_version if lease is not None else None
        body = self._body(
            self.options.member_lease, MEMBER, self.options.identity, version, acquireTime=acquired, renewTime=now
        )
        answer = await self._write(body, create=lease is None)
        if answer is not None:
            self._member_version = str(answer["metadata"]["resourceVersion"])

    async def _acquire(self, shard: int, lease: Lease | None) -> None:
        now = _micro_time(self.clock())
        ours = lease is not None and lease.holder == self.options.identity
        transitions = 0 if lease is None else lease.transitions + (0 if ours else 1)
        acquired = lease.acquire_time if ours and lease is not None and lease.acquire_time else now
        name = self.options.shard_lease(shard)
        version = None if lease is None else lease.resource_version
        body = self._body(
            name,
            SHARD,
            self.options.identity,
            version,
            acquireTime=acquired,
            renewTime=now,
            leaseTransitions=transitions,
        )
        sent = asyncio.get_running_loop().time()
        answer = await self._write(body, create=lease is None)
        if answer is None:
            log.debug("shard leases: another replica took shard %d first", shard)
            return
        self.held[shard] = _Held(str(answer["metadata"]["resourceVersion"]), sent, transitions, acquired)
        self._acquired.set()
        previous = "" if lease is None or ours else f" (from {lease.holder or 'a released Lease'})"
        log.info("shard leases: holding shard %d%s", shard, previous)
        if self.metrics is not None:
            self.metrics.shard_change("acquired")
        self.owner.shard_acquired(shard)

    async def _renew_or_release(self, shard: int) -> None:
        held = self.held.get(shard)
        if held is None:
            return
        if held.released_workers:
            await self._release(shard)
            return
        now = _micro_time(self.clock())
        body = self._body(
            self.options.shard_lease(shard),
            SHARD,
            self.options.identity,
            held.resource_version,
            acquireTime=held.acquire_time,
            renewTime=now,
            leaseTransitions=held.transitions,
        )
        sent = asyncio.get_running_loop().time()
        answer = await self.api.replace_lease(self.options.namespace, body)
        if answer is not None and self.held.get(shard) is held:
            held.resource_version = str(answer["metadata"]["resourceVersion"])
            held.renewed_at = sent

    async def _release(self, shard: int, *, retries: int = 0) -> None:
        """Give the Lease up (no holder, client-go's way): another replica may take it at once."""
        for attempt in range(retries + 1):
            held = self.held.get(shard)
            if held is None:
                return
            now = _micro_time(self.clock())
            body = self._body(
                self.options.shard_lease(shard),
                SHARD,
                None,
                held.resource_version,
                acquireTime=now,
                renewTime=now,
                leaseTransitions=held.transitions,
            )
            body["spec"]["leaseDurationSeconds"] = 1
            if await self.api.replace_lease(self.options.namespace, body) is not None:
                self.held.pop(shard, None)
                log.info("shard leases: released shard %d", shard)
                if self.metrics is not None:
                    self.metrics.shard_change("released")
                return
            if attempt < retries:  # our view of the Lease is stale: read it again
                await self._refresh(shard)
        log.info("shard leases: could not release shard %d; it expires instead", shard)

    async def _refresh(self, shard: int) -> None:
        for body in await self.api.list_leases(self.options.namespace, self._selector):
            lease = Lease.of(body)
            if lease.name == self.options.shard_lease(shard) and shard in self.held:
                if lease.holder != self.options.identity:
                    self.held.pop(shard)  # someone else holds it (our workers are stopped already)
                else:
                    self.held[shard].resource_version = lease.resource_version

    async def _leave(self) -> None:
        """Delete the member Lease. A renewal cancelled in flight may have moved it on unseen (the write landed, its
        answer was lost): then it is read again and deleted at its new version while this replica still holds it."""
        version, self._member_version = self._member_version, None
        name = self.options.member_lease
        for _ in range(2):
            if version is None or await self.api.delete_lease(self.options.namespace, name, version):
                return
            leases = [Lease.of(body) for body in await self.api.list_leases(self.options.namespace, self._selector)]
            mine = [lease for lease in leases if lease.name == name and lease.holder == self.options.identity]
            version = mine[0].resource_version if mine else None
        log.info("shard leases: the member Lease changed meanwhile; it expires instead")

    # -- giving shards up ---------------------------------------------------------------------------------------------
    def _hand_over(self, shard: int) -> None:
        """Above the fair share: stop the shard's workers (their running cycles finish), then release the Lease."""
        held = self.held[shard]

        async def hand_over() -> None:
            await self.owner.shard_handed_over(shard)
            held.released_workers = True

        log.info(
            "shard leases: handing shard %d over (%d replicas share %d shards)",
            shard,
            self.members,
            self.options.shards,
        )
        held.handing_over = asyncio.create_task(hand_over(), name=f"hand over shard {shard}", context=outside_kopf())

    def _lose(self, shard: int, why: str) -> None:
        """Stop counting the shard as held at once and tell the owner to cancel its workers. The rounds do not wait
        for the owner (its loop may be busy: renewing the other shards comes first); the shard is not taken again
        before the owner has stopped its workers."""
        held = self.held.pop(shard, None)
        if held is None:
            return
        log.warning("shard leases: lost shard %d: %s; its workers are stopped", shard, why)
        if held.handing_over is not None:
            held.handing_over.cancel()
        if self.metrics is not None:
            self.metrics.shard_change("lost")
        losing = asyncio.create_task(self.owner.shard_lost(shard), name=f"lose shard {shard}", context=outside_kopf())
        self.losing[shard] = losing
        losing.add_done_callback(lambda _: self.losing.pop(shard, None))

    async def _deadlines(self) -> None:
        """Cancel a shard's workers as soon as its Lease has gone ``renewDeadline`` without a successful renewal."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            for shard, held in list(self.held.items()):
                if now - held.renewed_at >= self.options.renew_deadline:
                    self._lose(shard, f"not renewed for {self.options.renew_deadline:g}s (renew deadline)")
            due = [held.renewed_at + self.options.renew_deadline for held in self.held.values()]
            self._acquired.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._acquired.wait(), timeout=min(due) - loop.time() if due else None)


async def _all(calls: Iterable[Awaitable[None]]) -> None:
    """Run Lease requests side by side; a failed one is logged and does not stop the others."""
    for outcome in await asyncio.gather(*calls, return_exceptions=True):
        if isinstance(outcome, LEASE_ERRORS):
            log.warning("shard leases: %s", outcome)
        elif isinstance(outcome, BaseException):
            raise outcome


def _micro_time(moment: datetime) -> str:
    """A ``MicroTime`` as the API server writes it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
