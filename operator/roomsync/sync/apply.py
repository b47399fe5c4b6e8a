"""Carry out a plan through the two stores.

Apply takes no decisions of its own beyond the mechanics a plan spells out: a create records the new id on its
source when asked (``backlink``), an update that had to book the meeting anew does too (``backlink_if_moved``),
and a Planon write that decides a meeting request is followed by the accept, or by the decline when Planon refuses.
One failing action never stops the others: it is reported and the next cycle plans it again, and because creates
are idempotent and state lives on the items, a retry never duplicates. A write refused because the item changed
after it was read (``PreconditionFailed``) is never retried as it is: the cycle reads and plans again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from roomsync.connectors.base import BackendError, BookingRefused, BookingStore, PreconditionFailed
from roomsync.engine import Action, ActionKind, Plan
from roomsync.model import Booking, Response, Side

log = logging.getLogger(__name__)

#: Meetings being written at once for one RoomSync. The backends' limits are the connectors' business (4 requests
#: per mailbox in Exchange, 16 for a Planon tenant, ...); this only has to be high enough to keep them busy: a
#: meeting's writes alternate between the two sides (a calendar create, then the Planon link write-back), so with
#: 16 meetings at once Planon's 16 slots idled while the calendar side worked (docs/performance.md).
DEFAULT_CONCURRENCY = 128
#: The reason of an action left out because an earlier action on its meeting failed.
NOT_ATTEMPTED = "NotAttempted"


@dataclass
class Outcome:
    action: Action
    ok: bool = True
    error: str | None = None
    reason: str | None = None  # CamelCase error reason (BookingRefused, BackendUnavailable, ...)
    response: Response | None = None  # how a meeting request got answered, if it did


@dataclass
class ApplyReport:
    outcomes: list[Outcome] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> list[Outcome]:
        """Writes that were attempted and failed (not those left out because of them)."""
        return [o for o in self.outcomes if not o.ok and o.reason != NOT_ATTEMPTED]

    def followed_by(self, later: ApplyReport) -> ApplyReport:
        """This report and a re-plan's: the stale writes were planned again, so only their count is kept."""
        stale = {id(o) for o in self.stale}
        return ApplyReport(
            [o for o in self.outcomes if id(o) not in stale] + later.outcomes, self.counters + later.counters
        )

    @property
    def stale(self) -> list[Outcome]:
        """Writes refused because the item changed after it was read: their pairs need reading again."""
        return [o for o in self.outcomes if o.reason == PreconditionFailed.reason]


async def apply(
    plan: Plan, stores: Mapping[Side, BookingStore], *, concurrency: int = DEFAULT_CONCURRENCY
) -> ApplyReport:
    """Run every action of the plan.

    The actions on one meeting run in plan order, and stop at the first that fails: a later one relies on the
    earlier (the link that vouches for a merge is written last; an old copy is cancelled only once the new one is
    linked). What was not attempted is reported as such and planned again by the next cycle.
    """
    report = ApplyReport()
    groups: dict[str, list[Action]] = {}
    for action in plan.actions:
        groups.setdefault(_meeting_key(action), []).append(action)
    waiting = iter(groups.values())

    async def run_group(actions: list[Action]) -> None:
        for index, action in enumerate(actions):
            outcome = await _run(action, stores)
            report.outcomes.append(outcome)
            _count(report.counters, outcome)
            if not outcome.ok:
                report.outcomes += [_not_attempted(later, action) for later in actions[index + 1 :]]
                return

    async def worker() -> None:
        for actions in waiting:  # shared: each meeting is taken by exactly one worker
            await run_group(actions)

    # ``concurrency`` workers, not one task per meeting: a first sync of 20,000 meetings would otherwise hold
    # 20,000 tasks at once and queue them on one semaphore (whose acquire scans its waiters: quadratic)
    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(groups)))))
    return report


def _meeting_key(action: Action) -> str:
    """The meeting an action is about, named by its Planon booking (``c:<id>`` while Planon holds none)."""
    if action.side is Side.PLANON:
        if action.target is not None:
            return action.target.id
        assert action.source is not None
        return f"c:{action.source.id}"
    if action.source is not None:
        return action.source.id
    target = action.target
    assert target is not None
    return target.link.peer_id if target.link is not None else f"c:{target.id}"


def _not_attempted(action: Action, failed: Action) -> Outcome:
    message = f"not attempted: it depends on an earlier write that failed ({failed.kind.value} on {failed.side.value})"
    return Outcome(action, ok=False, error=message, reason=NOT_ATTEMPTED)


async def _run(action: Action, stores: Mapping[Side, BookingStore]) -> Outcome:
    store = stores[action.side]
    outcome = Outcome(action)
    try:
        if action.kind is ActionKind.CREATE:
            assert action.desired is not None
            created = await store.create(action.desired)
            await _backlink(action, created, stores)
        elif action.kind is ActionKind.UPDATE:
            assert action.target is not None and action.desired is not None
            written = await store.update(action.target, action.desired, action.fields)
            moved = written.id != action.target.id and action.backlink_if_moved
            await _backlink(action, written, stores, force=moved)
        elif action.kind is ActionKind.CANCEL:
            assert action.target is not None
            await store.cancel(action.target, action.reason)
        elif action.kind is ActionKind.RESPOND:
            assert action.target is not None and action.response is not None
            await store.respond(action.target, action.response, action.comment)
            outcome.response = action.response
        elif action.kind is ActionKind.RELINK:
            assert action.target is not None and action.link is not None
            await store.relink(action.target, action.link)
    except BookingRefused as refused:
        outcome.ok, outcome.error, outcome.reason = False, str(refused), refused.reason
        if action.decides is not None and action.decides.decline_on_refusal:
            # Declining is the decision the plan asked for when Planon says no: the action succeeded.
            await _answer(action.decides.request, Response.DECLINE, f"Declined by Planon: {refused}", stores, outcome)
            outcome.ok = outcome.response is Response.DECLINE
        return outcome
    except BackendError as error:
        log.warning("%s failed: %s", action.describe(), error)
        outcome.ok, outcome.error, outcome.reason = False, str(error), error.reason
        return outcome
    except Exception as error:  # a bug or an unexpected answer must not stop the other actions
        log.exception("%s failed unexpectedly", action.describe())
        outcome.ok, outcome.error, outcome.reason = False, f"{type(error).__name__}: {error}", "InternalError"
        return outcome
    if action.decides is not None and action.decides.request.awaiting_response:
        await _answer(action.decides.request, Response.ACCEPT, "Reserved in Planon.", stores, outcome)
    return outcome


async def _backlink(
    action: Action, written: Booking, stores: Mapping[Side, BookingStore], *, force: bool = False
) -> None:
    """Record the written item's id on the source (when the plan asks), so its later deletion is seen as one."""
    wanted = action.backlink or force
    if not wanted or action.source is None or action.desired is None or action.desired.link is None:
        return
    link = replace(action.desired.link, peer_id=written.id)
    await stores[action.side.other].relink(action.source, link)


async def _answer(
    request: Booking, response: Response, comment: str, stores: Mapping[Side, BookingStore], outcome: Outcome
) -> None:
    try:
        await stores[Side.CALENDAR].respond(request, response, comment)
        outcome.response = response
    except BackendError as error:
        log.warning("answering %r with %s failed: %s", request.subject, response.value, error)
        outcome.ok, outcome.error, outcome.reason = False, f"{response.value} failed: {error}", error.reason


def _count(counters: Counter[str], outcome: Outcome) -> None:
    kind = outcome.action.kind
    if outcome.response is Response.ACCEPT:
        counters["accepted"] += 1
    elif outcome.response is Response.DECLINE:
        counters["declined"] += 1
    if outcome.reason == "BookingRefused":
        counters["refused"] += 1  # nothing was written, whether or not the request was declined
        if outcome.ok:
            return
    if outcome.reason == PreconditionFailed.reason:
        counters["preconditionFailed"] += 1
        return
    if not outcome.ok:
        counters["failed"] += 1
        return
    if outcome.action.conflict:
        counters["conflicts"] += 1
    names = {
        ActionKind.CREATE: "created",
        ActionKind.UPDATE: "updated",
        ActionKind.CANCEL: "cancelled",
        ActionKind.RELINK: "relinked",
    }
    if kind in names:
        counters[names[kind]] += 1
