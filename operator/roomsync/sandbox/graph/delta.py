"""calendarView/delta rounds: opaque skip and delta tokens bound to (mailbox, window), ``@removed`` entries for
deletions and for changes outside the window, partial updates, and expiry (410 ``syncStateNotFound``).

A token remembers the mailbox clock and what it told the client about each item when its round completed; the next
round reports instances changed since that clock (a whole series when the series changed: replays are allowed),
instances that entered the window, and ``@removed`` for ids that left it or changed outside it, as the Graph docs
describe (graph-and-ews.md 1.2):

- an updated instance the client has seen is sent as "its id with at least the properties that have been updated"
  (``@odata.type``, ``@odata.etag``, ``id`` and the properties whose value changed) - the default, because that is
  all Graph promises; ``full_objects`` sends whole objects instead;
- a single event changed outside the window, and a series changed while none of its occurrences is in the window,
  come back as ``@removed`` (for a series: its master's id, besides the ids of occurrences that left);
- Exchange keeps a limited number of sync states per mailbox: the oldest tokens expire first;
- entries carry no extended properties (delta supports no ``$expand``); ``extended_properties`` adds them all, as a
  Graph that returned them might.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roomsync.sandbox.graph.model import Instance, Mailbox

#: Sync states kept per mailbox; an older token answers 410 (Graph: "dependent on the size of the internal delta
#: token cache").
TOKENS_PER_MAILBOX = 64
#: Always part of a partial update.
IDENTITY = ("@odata.type", "@odata.etag", "id")

Digest = Mapping[str, Any]
Render = Callable[[Instance], dict[str, Any]]


@dataclass(frozen=True)
class DeltaState:
    mailbox: str
    start: datetime
    end: datetime
    clock: int
    delivered: Mapping[str, Digest]  # instance id -> what the client was told (rendered in UTC)


@dataclass(frozen=True)
class Entry:
    """One item of a round: an instance (all of it, or only ``keys``), or ``@removed`` for ``item_id``."""

    item_id: str
    instance: Instance | None = None
    keys: frozenset[str] | None = None  # None: the whole object


@dataclass
class PendingPages:
    """The rest of a round that did not fit one page (what a ``$skiptoken`` stands for)."""

    mailbox: str
    start: datetime
    end: datetime
    entries: list[Entry]
    final: DeltaState


class DeltaTokens:
    """Server-side state behind the opaque tokens."""

    def __init__(self) -> None:
        self.deltas: dict[str, DeltaState] = {}
        self.pages: dict[str, PendingPages] = {}
        #: each mailbox's delta tokens, oldest first (Exchange trims a mailbox's own sync states; kept per mailbox
        #: so a tenant of 1,000 rooms does not scan 64,000 tokens on each request)
        self.by_mailbox: dict[str, dict[str, None]] = {}
        #: send whole objects for updates instead of the changed properties (a sandbox setting)
        self.full_objects = False
        #: entries carry the event's single-value extended properties, which Graph's delta does not return (a sandbox
        #: setting: a Graph that did must be read as well)
        self.extended_properties = False

    def expire(self, mailbox: str | None = None) -> int:
        """Forget delta and skip tokens (Exchange's token cache was trimmed): the next use answers 410."""
        gone = [t for t, s in self.deltas.items() if mailbox is None or s.mailbox == mailbox]
        gone_pages = [t for t, p in self.pages.items() if mailbox is None or p.mailbox == mailbox]
        for token in gone:
            self.by_mailbox.get(self.deltas.pop(token).mailbox, {}).pop(token, None)
        for token in gone_pages:
            del self.pages[token]
        return len(gone) + len(gone_pages)

    def round(
        self, box: Mailbox, start: datetime, end: datetime, previous: DeltaState | None, digest: Render
    ) -> PendingPages:
        """Everything the round reports, before paging. ``digest`` renders an instance in a fixed zone."""
        now = box.instances(start, end)
        seen = previous.delivered if previous is not None else {}
        delivered: dict[str, Digest] = {}
        entries: list[Entry] = []
        for inst in now:
            old = seen.get(inst.id)
            if previous is not None and old is not None and inst.version <= previous.clock:
                delivered[inst.id] = old  # unchanged: the same digest object, so tokens share their memory
                continue
            new = digest(inst)
            delivered[inst.id] = new
            if old is None or self.full_objects:
                entries.append(Entry(inst.id, inst))
            else:
                changed = frozenset(k for k in new.keys() | old.keys() if new.get(k) != old.get(k))
                entries.append(Entry(inst.id, inst, changed | frozenset(IDENTITY)))
        if previous is not None:
            in_window = {i.id for i in now}
            series_in_window = {i.event.id for i in now if i.original_start is not None}
            removed = set(seen) - in_window
            for event in box.events.values():  # changed, but outside the window: reported as @removed
                outside = not event.recurrence or event.id not in series_in_window
                if event.version > previous.clock and event.id not in in_window and outside:
                    removed.add(event.id)
            removed.update(t for t, v in box.tombstones.items() if v > previous.clock)
            entries += [Entry(r) for r in sorted(removed - in_window)]
        return PendingPages(box.address, start, end, entries, DeltaState(box.address, start, end, box.clock, delivered))

    def page(self, pending: PendingPages, size: int) -> tuple[list[Entry], str, str]:
        """One page and the next token: ("skip", token) while more remain, else ("delta", token)."""
        batch, rest = pending.entries[:size], pending.entries[size:]
        token = secrets.token_urlsafe(18)
        if rest:
            self.pages[token] = PendingPages(pending.mailbox, pending.start, pending.end, rest, pending.final)
            return batch, "skip", token
        self.deltas[token] = pending.final
        mine = self.by_mailbox.setdefault(pending.mailbox, {})
        mine[token] = None
        while len(mine) > TOKENS_PER_MAILBOX:
            old = next(iter(mine))
            del mine[old]
            self.deltas.pop(old, None)
        return batch, "delta", token

    @staticmethod
    def removed(event_id: str) -> dict[str, Any]:
        return {"@odata.type": "#microsoft.graph.event", "id": event_id, "@removed": {"reason": "deleted"}}
