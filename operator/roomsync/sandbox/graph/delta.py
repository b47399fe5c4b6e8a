"""calendarView/delta rounds: opaque skip and delta tokens bound to (mailbox, window), ``@removed`` entries for
deletions and for changes outside the window, and expiry (410 ``syncStateNotFound``).

A token remembers the mailbox clock and the ids delivered when its round completed; the next round reports
instances changed since that clock (a whole series when its master changed: replays are allowed), instances that
entered the window, and ``@removed`` for ids that left it or changed outside it, as the Graph docs describe.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roomsync.sandbox.graph.model import Instance, Mailbox


@dataclass(frozen=True)
class DeltaState:
    mailbox: str
    start: datetime
    end: datetime
    clock: int
    delivered: frozenset[str]


@dataclass
class PendingPages:
    """The rest of a round that did not fit one page (what a ``$skiptoken`` stands for)."""

    mailbox: str
    start: datetime
    end: datetime
    items: list[tuple[Instance | None, str]]  # (instance, id) - instance None means @removed
    final: DeltaState


class DeltaTokens:
    """Server-side state behind the opaque tokens."""

    def __init__(self) -> None:
        self.deltas: dict[str, DeltaState] = {}
        self.pages: dict[str, PendingPages] = {}

    def expire(self, mailbox: str | None = None) -> int:
        """Forget delta and skip tokens (Exchange's token cache was trimmed): the next use answers 410."""
        gone = [t for t, s in self.deltas.items() if mailbox is None or s.mailbox == mailbox]
        gone_pages = [t for t, p in self.pages.items() if mailbox is None or p.mailbox == mailbox]
        for token in gone:
            del self.deltas[token]
        for token in gone_pages:
            del self.pages[token]
        return len(gone) + len(gone_pages)

    def round(self, box: Mailbox, start: datetime, end: datetime, previous: DeltaState | None) -> PendingPages:
        """Everything the round reports, before paging."""
        now = box.instances(start, end)
        ids_now = {i.id for i in now}
        items: list[tuple[Instance | None, str]]
        if previous is None:
            items = [(i, i.id) for i in now]
        else:
            items = [(i, i.id) for i in now if i.version > previous.clock or i.id not in previous.delivered]
            removed = set(previous.delivered - ids_now)
            for event in box.events.values():  # changed, but outside the window: reported as @removed
                if event.version > previous.clock and not event.recurrence and event.id not in ids_now:
                    removed.add(event.id)
            removed.update(t for t, v in box.tombstones.items() if v > previous.clock)
            items += [(None, r) for r in sorted(removed - ids_now)]
        return PendingPages(
            box.address, start, end, items, DeltaState(box.address, start, end, box.clock, frozenset(ids_now))
        )

    def page(self, pending: PendingPages, size: int) -> tuple[list[tuple[Instance | None, str]], str, str]:
        """One page and the next token: ("skip", token) while more remain, else ("delta", token)."""
        batch, rest = pending.items[:size], pending.items[size:]
        token = secrets.token_urlsafe(18)
        if rest:
            self.pages[token] = PendingPages(pending.mailbox, pending.start, pending.end, rest, pending.final)
            return batch, "skip", token
        self.deltas[token] = pending.final
        return batch, "delta", token

    @staticmethod
    def removed(event_id: str) -> dict[str, Any]:
        return {"@odata.type": "#microsoft.graph.event", "id": event_id, "@removed": {"reason": "deleted"}}
