"""Every EWS call the connector makes, as synchronous functions of one room's folders (they run in the client's
worker threads through :meth:`EwsClient.run`). exchangelib's service classes are used directly where its query
layer would add requests (a calendar view through the QuerySet costs a FindItem *and* a GetItem).

SOAP per call (graph-and-ews.md 3.2): ``view`` = FindItem CalendarView; ``get`` = GetItem (ItemId and
RecurringMasterItemId mixed); ``sync_page`` = SyncFolderItems (IdOnly); ``find`` = FindItem with a Restriction;
``create`` = CreateItem SaveOnly; ``update`` = UpdateItem NeverOverwrite; ``delete`` = DeleteItem
MoveToDeletedItems; ``respond`` / ``cancel_meeting`` = CreateItem SendAndSaveCopy with Accept/Decline/
TentativelyAccept/CancelCalendarItem.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from exchangelib import CalendarItem, EWSDateTime
from exchangelib.items import (
    ALL_OCCURRENCES,
    ID_ONLY,
    NEVER_OVERWRITE,
    SEND_AND_SAVE_COPY,
    SEND_TO_ALL_AND_SAVE_COPY,
    SEND_TO_NONE,
    SHALLOW,
    AcceptItem,
    CancelCalendarItem,
    DeclineItem,
    TentativelyAcceptItem,
)
from exchangelib.properties import CalendarView, ItemId, RecurringMasterItemId, ReferenceItemId
from exchangelib.services import FindItem, SyncFolderItems

from roomsync.connectors.ews.client import MailboxFolders
from roomsync.model import Response

#: EWSFindCountLimit's default: a calendar view returning this many items may be cut short.
VIEW_LIMIT = 1000
#: SyncFolderItems' largest page, for walking a folder to obtain a sync state.
FAST_FORWARD_PAGE = 512
REPLIES = {Response.ACCEPT: AcceptItem, Response.DECLINE: DeclineItem, Response.TENTATIVE: TentativelyAcceptItem}


@dataclass(frozen=True)
class Seen:
    """An item id as a view or a sync page reports it."""

    id: str
    change_key: str
    type: str | None = None
    uid: str | None = None


def ews_time(value: datetime) -> EWSDateTime:
    return EWSDateTime.from_datetime(value.astimezone(UTC))


def view(folders: MailboxFolders, start: datetime, end: datetime) -> tuple[list[Seen], bool]:
    """Singles, occurrences and exceptions overlapping ``[start, end)``; False when the view was cut short."""
    fields = folders.calendar.normalize_fields(fields=["type", "uid"])
    calendar_view = CalendarView(start=ews_time(start), end=ews_time(end), max_items=VIEW_LIMIT)
    found = list(
        FindItem(account=folders.account).call(
            folders=[folders.calendar],
            additional_fields=set(fields),
            restriction=None,
            order_fields=None,
            shape=ID_ONLY,
            query_string=None,
            depth=SHALLOW,
            calendar_view=calendar_view,
            max_items=VIEW_LIMIT,
            offset=0,
        )
    )
    for item in found:
        if isinstance(item, Exception):
            raise item
    seen = [Seen(i.id, i.changekey, i.type, i.uid) for i in found]
    return seen, len(seen) < VIEW_LIMIT


def get(folders: MailboxFolders, ids: Sequence[ItemId | RecurringMasterItemId], fields: Sequence[str]) -> list[Any]:
    """GetItem; one result per id, in order: a CalendarItem or the per-item exception (ErrorItemNotFound ...)."""
    if not ids:
        return []
    return list(folders.account.fetch(ids=list(ids), folder=folders.calendar, only_fields=list(fields)))


def master_id(occurrence: Seen) -> RecurringMasterItemId:
    return RecurringMasterItemId(id=occurrence.id, changekey=occurrence.change_key)


def item_id(item_id: str, change_key: str | None = None) -> ItemId:
    return ItemId(id=item_id, changekey=change_key)


def sync_page(folders: MailboxFolders, state: str | None, limit: int) -> tuple[list[tuple[str, Seen]], str, bool]:
    """One SyncFolderItems page (IdOnly): ([(create|update|delete, seen)], new state, includes the last change)."""
    service = SyncFolderItems(account=folders.account)
    changes = []
    for kind, item in service.call(
        folder=folders.calendar,
        shape=ID_ONLY,
        additional_fields=set(),
        sync_state=state,
        ignore=None,
        max_changes_returned=limit,
        sync_scope=None,
    ):
        if kind in ("create", "update", "delete"):
            changes.append((kind, Seen(item.id, item.changekey or "")))
    return changes, service.sync_state, bool(service.includes_last_item_in_range)


def find(folders: MailboxFolders, **conditions: Any) -> list[Seen]:
    """Singles and series masters matching an exchangelib filter (FindItem with a Restriction, IdOnly)."""
    rows = folders.calendar.filter(**conditions).values_list("id", "changekey")
    return [Seen(i, ck) for i, ck in rows]


def create(folders: MailboxFolders, values: dict[str, Any], *, invite: bool) -> tuple[str, str]:
    item = CalendarItem(account=folders.account, folder=folders.calendar, **values)
    item.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY if invite else SEND_TO_NONE)
    return item.id, item.changekey


def update(folders: MailboxFolders, target: str, change_key: str, values: dict[str, Any], *, notify: bool) -> str:
    """UpdateItem of ``values`` only, refused (ErrorIrresolvableConflict) when the item changed since ``change_key``."""
    item = CalendarItem(account=folders.account, folder=folders.calendar, id=target, changekey=change_key, **values)
    item.save(
        update_fields=list(values),
        conflict_resolution=NEVER_OVERWRITE,
        send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY if notify else SEND_TO_NONE,
    )
    return str(item.changekey)


def delete(folders: MailboxFolders, target: str, change_key: str | None, *, notify: bool) -> None:
    item = CalendarItem(account=folders.account, folder=folders.calendar, id=target, changekey=change_key)
    item.move_to_trash(
        send_meeting_cancellations=SEND_TO_ALL_AND_SAVE_COPY if notify else SEND_TO_NONE,
        affected_task_occurrences=ALL_OCCURRENCES,
    )


def respond(folders: MailboxFolders, response: Response, target: str, change_key: str | None, comment: str) -> None:
    reply = REPLIES[response](
        account=folders.account,
        folder=folders.sent,
        reference_item_id=ReferenceItemId(id=target, changekey=change_key),
        body=comment or None,
    )
    reply.send(message_disposition=SEND_AND_SAVE_COPY)


def cancel_meeting(folders: MailboxFolders, target: str, change_key: str | None, comment: str) -> None:
    """The organizer's cancellation: attendees (and the other rooms) get it, the item leaves the calendar."""
    cancellation = CancelCalendarItem(
        account=folders.account,
        reference_item_id=ReferenceItemId(id=target, changekey=change_key),
        new_body=comment or None,
    )
    cancellation.send(save_copy=True, copy_to_folder=folders.sent)


def ids_of(rows: Iterable[Seen]) -> list[ItemId]:
    return [ItemId(id=r.id, changekey=r.change_key) for r in rows]
