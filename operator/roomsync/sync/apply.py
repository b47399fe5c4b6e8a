"""Carry out a plan through the two stores.

Apply takes no decisions of its own beyond the mechanics a plan spells out: a create records the new id on its
source when asked (``backlink``), and a Planon write that decides a meeting request is followed by the accept, or
by the decline when Planon refuses. One failing action never stops the others: it is reported and the next cycle
plans it again, and because creates are idempotent and state lives on the items, a retry never duplicates.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from roomsync.connectors.base import BackendError, BookingRefused, BookingStore
from roomsync.engine import Action, ActionKind, Plan
from roomsync.model import Booking, Link, Response, Side

log = logging.getLogger(__name__)

#: Actions in flight at once for one RoomSync; connectors add their own per-mailbox limits underneath.
DEFAULT_CONCURRENCY = 16


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
        return [o for o in self.outcomes if not o.ok]


async def apply(
    plan: Plan, stores: Mapping[Side, BookingStore], *, concurrency: int = DEFAULT_CONCURRENCY
) -> ApplyReport:
    """Run every action of the plan; actions that touch the same meeting run in plan order."""
    report = ApplyReport()
    groups: dict[str, list[Action]] = {}
    for action in plan.actions:
        groups.setdefault(_meeting_key(action), []).append(action)
    gate = asyncio.Semaphore(concurrency)

    async def run_group(actions: list[Action]) -> None:
        async with gate:
            for action in actions:
                outcome = await _run(action, stores)
                report.outcomes.append(outcome)
                _count(report.counters, outcome)

    await asyncio.gather(*(run_group(g) for g in groups.values()))
    return report


def _meeting_key(action: Action) -> str:
    booking = action.source or action.target or action.desired
    assert booking is not None
    return f"{action.side.value}:{booking.id}" if action.source is None else f"source:{booking.id}"


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
            await store.update(action.target, action.desired, action.fields)
            await _backlink(action, action.target, stores)
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
        if action.answer is not None and action.decline_on_refusal:
            # Declining is the decision the plan asked for when Planon says no: the action succeeded.
            await _answer(action.answer, Response.DECLINE, f"Declined by Planon: {refused}", stores, outcome)
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
    if action.answer is not None and action.answer.awaiting_response:
        await _answer(action.answer, Response.ACCEPT, "Reserved in Planon.", stores, outcome)
    return outcome


async def _backlink(action: Action, written: Booking, stores: Mapping[Side, BookingStore]) -> None:
    """Record the written item's id on the source (when the plan asks), so its later deletion is seen as one."""
    if not action.backlink or action.source is None or action.desired is None or action.desired.link is None:
        return
    link = Link(written.id, action.desired.link.fingerprint, action.desired.link.seq)
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
