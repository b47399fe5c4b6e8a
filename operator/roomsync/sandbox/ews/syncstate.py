"""SyncFolderItems states: what a client has seen of a calendar folder, so the next call reports only changes.

A state is the map item id -> version the client holds. Changes against it: an item it does not hold is a Create,
one with a newer version an Update, one that is gone a Delete. A page of ``MaxChangesReturned`` changes yields the
state after exactly those changes, so paging (``IncludesLastItemInRange`` false) resumes where it stopped.

Exchange hands the state to the client as an opaque blob; the emulator keeps it server side behind an opaque token
(bounded per mailbox: old tokens expire, and ``expire`` forgets them all, answering ``ErrorInvalidSyncStateData``).
The folder holds series masters and single items, never occurrences: a changed occurrence updates its master.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass

from roomsync.sandbox.graph.model import Mailbox, StoredEvent

KEEP_PER_MAILBOX = 64


class InvalidSyncState(Exception):
    """Becomes ``ErrorInvalidSyncStateData``."""


@dataclass(frozen=True)
class Change:
    kind: str  # Create | Update | Delete
    item_id: str
    event: StoredEvent | None


class SyncStates:
    def __init__(self) -> None:
        self._states: dict[str, OrderedDict[str, dict[str, int]]] = {}

    def _seen(self, mailbox: str, token: str | None) -> dict[str, int]:
        if not token:
            return {}
        states = self._states.get(mailbox)
        if states is None or token not in states:
            raise InvalidSyncState("The synchronization state data is corrupt or otherwise invalid.")
        return states[token]

    def changes(self, box: Mailbox, token: str | None, limit: int) -> tuple[list[Change], str, bool]:
        """(changes of this page, the new token, whether it includes the last change)."""
        seen = self._seen(box.address, token)
        pending: list[Change] = []
        for event in sorted(box.events.values(), key=lambda e: (e.version, e.id)):
            if event.id not in seen:
                pending.append(Change("Create", event.id, event))
            elif event.version > seen[event.id]:
                pending.append(Change("Update", event.id, event))
        pending += [Change("Delete", item_id, None) for item_id in sorted(seen) if item_id not in box.events]
        page = pending[:limit]
        after = dict(seen)
        for change in page:
            if change.event is None:
                after.pop(change.item_id, None)
            else:
                after[change.item_id] = change.event.version
        return page, self._keep(box.address, after), len(page) == len(pending)

    def _keep(self, mailbox: str, seen: dict[str, int]) -> str:
        token = "H4sI" + secrets.token_urlsafe(24)  # opaque, shaped like the gzip+base64 blobs Exchange hands out
        states = self._states.setdefault(mailbox, OrderedDict())
        states[token] = seen
        while len(states) > KEEP_PER_MAILBOX:
            states.popitem(last=False)
        return token

    def expire(self, mailbox: str | None = None) -> int:
        """Forget sync states (a mailbox move, a restart): their next use answers ErrorInvalidSyncStateData."""
        gone = 0
        for key in [k for k in self._states if mailbox is None or k == mailbox]:
            gone += len(self._states.pop(key))
        return gone
