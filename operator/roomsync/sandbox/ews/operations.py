"""The EWS operations, carried out on the shared mailbox store through its calendar API (``Calendars``): the same
meetings, booking assistant and mail log the Graph face uses.

One handler per operation; each gets the parsed operation element and a :class:`Call` (who is asking, on which
mailbox) and returns the response element. Per-item problems become error response messages in request order, as
exchangelib expects (it zips answers with what it asked for).

Choices where Exchange's behaviour is not documented ([unconfirmed], see docs/exchange-on-premises.md):

- UpdateItem checks the ChangeKey per ConflictResolution: ``NeverOverwrite`` refuses a stale one with
  ``ErrorIrresolvableConflict``; ``AutoResolve`` and ``AlwaysOverwrite`` write anyway (the person's newer edit is
  overwritten - why RoomSync never uses them).
- A stale ChangeKey on the ReferenceItemId of Accept/Decline/Tentative/CancelCalendarItem answers ``ErrorStaleObject``.
- DeleteItem does not check the ChangeKey.
- SendToNone on an update of a meeting with attendees still updates their copies (the store propagates organizer
  changes); RoomSync sends to all when a meeting has attendees.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from roomsync.sandbox.ews import parse
from roomsync.sandbox.ews.accounts import Principal
from roomsync.sandbox.ews.properties import parse_shape
from roomsync.sandbox.ews.render import change_key, render_item
from roomsync.sandbox.ews.restrictions import compile_restriction
from roomsync.sandbox.ews.soap import (
    ItemError,
    SoapFault,
    error,
    local_name,
    m,
    parse_datetime,
    response,
    sub,
    success,
    t,
)
from roomsync.sandbox.ews.syncstate import InvalidSyncState
from roomsync.sandbox.graph.calendar import NotFoundError, parse_attendees
from roomsync.sandbox.graph.model import Instance, Mailbox, StoredEvent, occurrence_id
from roomsync.sandbox.graph.recurrence import original_starts
from roomsync.sandbox.graph.render import BadRequest

if TYPE_CHECKING:
    from roomsync.sandbox.ews.state import EwsState
    from roomsync.sandbox.graph.server import SandboxState

#: Without MaxEntriesReturned, a CalendarView stops here (EWSFindCountLimit).
FIND_COUNT_LIMIT = 1000
MAX_SYNC_CHANGES = 512
FOLDERS = {
    "calendar": ("CalendarFolder", "IPF.Appointment", "Calendar"),
    "root": ("Folder", None, "Top of Information Store"),
    "msgfolderroot": ("Folder", None, "Top of Information Store"),
    "sentitems": ("Folder", "IPF.Note", "Sent Items"),
    "inbox": ("Folder", "IPF.Note", "Inbox"),
    "deleteditems": ("Folder", "IPF.Note", "Deleted Items"),
}
RESPONSES = {"AcceptItem": "accept", "TentativelyAcceptItem": "tentativelyAccept", "DeclineItem": "decline"}


@dataclass
class Call:
    """Who is asking, on which mailbox, in which zone."""

    state: SandboxState
    ews: EwsState
    principal: Principal | None
    box: Mailbox | None
    tz: str = "UTC"

    @property
    def mailbox(self) -> Mailbox:
        if self.box is None:
            raise SoapFault("ErrorNonExistentMailbox", "No mailbox was named for this request.")
        return self.box


def folder_id(mailbox: str, name: str) -> str:
    return "AQMk" + base64.urlsafe_b64encode(f"{mailbox}|{name}".encode()).decode().rstrip("=")


def _folder_name(call: Call, elem: ET.Element) -> str:
    """The distinguished name of the folder an id element names (only this mailbox's folders)."""
    if elem.tag == t("DistinguishedFolderId"):
        name = elem.get("Id", "")
        box = elem.find(t("Mailbox"))
        address = (box.findtext(t("EmailAddress")) or "").strip().casefold() if box is not None else ""
        if address and address != call.mailbox.address:
            raise ItemError("ErrorAccessDenied", f"The folder belongs to {address}, not to {call.mailbox.address}.")
    else:
        raw = elem.get("Id", "")
        try:
            decoded = base64.urlsafe_b64decode(raw[4:] + "=" * (-len(raw[4:]) % 4)).decode()
            address, name = decoded.split("|", 1)
        except (ValueError, UnicodeDecodeError):
            raise ItemError("ErrorInvalidIdMalformed", "Id is malformed.") from None
        if address != call.mailbox.address:
            raise ItemError("ErrorItemNotFound", "The specified folder could not be found in the store.")
    if name not in FOLDERS:
        raise ItemError("ErrorFolderNotFound", f"The distinguished folder {name!r} is not emulated.")
    return name


def _calendar(call: Call, container: ET.Element | None) -> None:
    """Require that a folder list names this mailbox's calendar (the only folder with items here)."""
    ids = list(container) if container is not None else []
    if not ids:
        raise ItemError("ErrorInvalidRequest", "No folder was named.")
    for elem in ids:
        if _folder_name(call, elem) != "calendar":
            raise ItemError("ErrorInvalidOperation", "Only the calendar folder holds items in this emulator.")


# -- items by id ------------------------------------------------------------------------------------------------------
def resolve(call: Call, elem: ET.Element) -> tuple[StoredEvent, datetime | None]:
    """(item, original start of an occurrence or None) for ItemId / OccurrenceItemId / RecurringMasterItemId."""
    box = call.mailbox
    kind = local_name(elem.tag)
    try:
        if kind in ("ItemId", "ReferenceItemId"):
            return call.state.calendars.find(box, elem.get("Id", ""))
        if kind == "RecurringMasterItemId":
            event, _ = call.state.calendars.find(box, elem.get("OccurrenceId", ""))
            if not event.recurrence:
                raise ItemError("ErrorItemNotFound", "The item is not part of a series.")
            return event, None
        if kind == "OccurrenceItemId":
            master = box.events.get(elem.get("RecurringMasterId", ""))
            if master is None or not master.recurrence:
                raise NotFoundError("The specified object was not found in the store.")
            index = int(elem.get("InstanceIndex", "0"))
            horizon = master.start.replace(year=master.start.year + 10)
            starts = original_starts(master.recurrence, master.start, master.tz, horizon)
            if not 1 <= index <= len(starts):
                raise ItemError(
                    "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", "The occurrence index is out of range."
                )
            original = starts[index - 1]
            if original in master.cancelled:
                raise ItemError(
                    "ErrorCalendarOccurrenceIsDeletedFromRecurrence", "The occurrence was deleted from the series."
                )
            return master, original
    except NotFoundError:
        raise ItemError("ErrorItemNotFound", "The specified object was not found in the store.") from None
    except ValueError:
        raise ItemError("ErrorInvalidIdMalformed", "Id is malformed.") from None
    raise ItemError("ErrorInvalidIdMalformed", f"{kind} is not an item id.")


def _instance(event: StoredEvent, original: datetime | None) -> Instance | None:
    if original is None:
        return None
    instance = event.instance_at(original)
    if instance is None:
        raise ItemError("ErrorItemNotFound", "The occurrence was not found.")
    return instance


def _check_change_key(event: StoredEvent, given: str | None, code: str) -> None:
    if given and given != change_key(event):
        raise ItemError(
            code, "The change key passed in the request does not match the current change key for the item."
        )


def _per_item(operation: str, items: list[ET.Element], handle: Callable[[ET.Element], ET.Element]) -> ET.Element:
    messages = []
    for elem in items:
        try:
            messages.append(handle(elem))
        except ItemError as exc:
            messages.append(error(operation, exc.code, exc.message))
        except BadRequest as exc:
            messages.append(error(operation, "ErrorInvalidRequest", str(exc)))
    return response(operation, messages)


# -- operations -------------------------------------------------------------------------------------------------------
def get_folder(call: Call, op: ET.Element) -> ET.Element:
    def one(elem: ET.Element) -> ET.Element:
        name = _folder_name(call, elem)
        kind, folder_class, display = FOLDERS[name]
        message = success("GetFolder")
        folder = sub(sub(message, m("Folders")), t(kind))
        sub(folder, t("FolderId"), Id=folder_id(call.mailbox.address, name), ChangeKey="AQAAAA==")
        sub(folder, t("ParentFolderId"), Id=folder_id(call.mailbox.address, "root"), ChangeKey="AQAAAA==")
        if folder_class:
            sub(folder, t("FolderClass"), folder_class)
        sub(folder, t("DisplayName"), display)
        sub(folder, t("TotalCount"), len(call.mailbox.events) if name == "calendar" else 0)
        sub(folder, t("ChildFolderCount"), 0)
        return message

    return _per_item("GetFolder", list(op.find(m("FolderIds")) or []), one)


def find_item(call: Call, op: ET.Element) -> ET.Element:
    try:
        shape = parse_shape(op.find(m("ItemShape")))
        _calendar(call, op.find(m("ParentFolderIds")))
        view = op.find(m("CalendarView"))
        message = success("FindItem")
        if view is not None:
            if op.find(m("Restriction")) is not None:
                raise ItemError("ErrorInvalidRequest", "A CalendarView cannot be combined with a Restriction.")
            start = parse_datetime(view.get("StartDate"), "StartDate")
            end = parse_datetime(view.get("EndDate"), "EndDate")
            if end <= start:
                raise ItemError("ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate.")
            limit = int(view.get("MaxEntriesReturned") or FIND_COUNT_LIMIT)
            instances = call.mailbox.instances(start, end)
            page = instances[:limit]
            root = sub(
                message,
                m("RootFolder"),
                TotalItemsInView=len(instances),
                IncludesLastItemInRange=len(page) == len(instances),
            )
            items = sub(root, t("Items"))
            for instance in page:
                items.append(
                    render_item(instance.event, shape, instance if instance.original_start is not None else None)
                )
            return response("FindItem", [message])
        restriction = op.find(m("Restriction"))
        predicate = compile_restriction(restriction[0]) if restriction is not None and len(restriction) else None
        events = sorted(call.mailbox.events.values(), key=lambda e: (e.start, e.id))
        matching = [e for e in events if predicate is None or predicate(e)]
        paging = op.find(m("IndexedPageItemView"))
        offset = int(paging.get("Offset", "0")) if paging is not None else 0
        size = int(paging.get("MaxEntriesReturned") or FIND_COUNT_LIMIT) if paging is not None else FIND_COUNT_LIMIT
        page_events = matching[offset : offset + size]
        last = offset + len(page_events) >= len(matching)
        attrs: dict[str, Any] = {"TotalItemsInView": len(matching), "IncludesLastItemInRange": last}
        if not last:
            attrs["IndexedPagingOffset"] = offset + len(page_events)
        items = sub(sub(message, m("RootFolder"), **attrs), t("Items"))
        for event in page_events:
            items.append(render_item(event, shape))
        return response("FindItem", [message])
    except ItemError as exc:
        return response("FindItem", [error("FindItem", exc.code, exc.message)])


def get_item(call: Call, op: ET.Element) -> ET.Element:
    shape = parse_shape(op.find(m("ItemShape")))

    def one(elem: ET.Element) -> ET.Element:
        event, original = resolve(call, elem)
        message = success("GetItem")
        sub(message, m("Items")).append(render_item(event, shape, _instance(event, original)))
        return message

    return _per_item("GetItem", list(op.find(m("ItemIds")) or []), one)


def _body_text(elem: ET.Element) -> str:
    """The text a response object carries: NewBodyContent (a cancellation's) or Body (a reply's)."""
    for tag in ("NewBodyContent", "Body"):
        body = elem.find(t(tag))
        if body is not None:
            return body.text or ""
    return ""


def create_item(call: Call, op: ET.Element) -> ET.Element:
    invitations = op.get("SendMeetingInvitations", "SendToAllAndSaveCopy")
    disposition = op.get("MessageDisposition", "SaveOnly")
    saved = op.find(m("SavedItemFolderId"))

    def one(elem: ET.Element) -> ET.Element:
        kind = local_name(elem.tag)
        message = success("CreateItem")
        items = sub(message, m("Items"))
        if kind == "CalendarItem":
            if saved is not None:
                _calendar(call, saved)
            event = _create_calendar_item(call, elem, invitations)
            sub(sub(items, t("CalendarItem")), t("ItemId"), Id=event.id, ChangeKey=change_key(event))
            return message
        reference = elem.find(t("ReferenceItemId"))
        if reference is None:
            raise ItemError("ErrorInvalidRequest", f"{kind} needs a ReferenceItemId.")
        event, _ = resolve(call, reference)
        _check_change_key(event, reference.get("ChangeKey"), "ErrorStaleObject")
        item_id = reference.get("Id", "")
        if kind in RESPONSES:
            if event.is_organizer:
                raise ItemError("ErrorInvalidOperation", "You can't respond to a meeting you organized.")
            body = {"comment": _body_text(elem), "sendResponse": disposition != "SaveOnly"}
            call.state.calendars.respond(call.mailbox, item_id, RESPONSES[kind], body)
        elif kind == "CancelCalendarItem":
            if not event.is_organizer:
                raise ItemError("ErrorInvalidOperation", "Only the organizer can cancel a meeting.")
            call.state.calendars.delete(call.mailbox, item_id, cancel_comment=_body_text(elem))
        elif kind == "RemoveItem":
            if not event.is_cancelled:
                raise ItemError("ErrorInvalidOperation", "Only a cancelled meeting can be removed.")
            call.mailbox.remove(event.id)
        else:
            raise ItemError("ErrorInvalidRequest", f"CreateItem of {kind} is not emulated.")
        return message

    return _per_item("CreateItem", list(op.find(m("Items")) or []), one)


def _create_calendar_item(call: Call, elem: ET.Element, invitations: str) -> StoredEvent:
    body, uid = parse.new_item(elem, call.tz)
    box = call.mailbox
    if uid and box.copy_of(uid) is not None:
        raise ItemError("ErrorItemSave", f"An item with UID {uid} already exists in this calendar.")
    attendees = body.pop("attendees")
    event, _ = call.state.calendars.create(box, body)
    if uid:
        event.ical_uid = uid
    if attendees:
        if invitations == "SendToNone":  # saved with its attendees, nobody is told
            event.attendees = parse_attendees(attendees)
        else:
            call.state.calendars.update(box, event.id, {"attendees": attendees})
    return event


def update_item(call: Call, op: ET.Element) -> ET.Element:
    resolution = op.get("ConflictResolution", "AutoResolve")
    if resolution not in ("NeverOverwrite", "AutoResolve", "AlwaysOverwrite"):
        raise SoapFault("ErrorSchemaValidation", f"ConflictResolution {resolution!r} is invalid.")

    def one(change: ET.Element) -> ET.Element:
        id_elem = next((c for c in change if local_name(c.tag).endswith("ItemId")), None)
        updates = change.find(t("Updates"))
        if id_elem is None or updates is None:
            raise ItemError("ErrorInvalidRequest", "An ItemChange needs an item id and Updates.")
        event, original = resolve(call, id_elem)
        given = id_elem.get("ChangeKey")
        if not given and resolution != "AlwaysOverwrite":
            raise ItemError("ErrorChangeKeyRequiredForWriteOperations", "A ChangeKey is required for this update.")
        if resolution == "NeverOverwrite":
            _check_change_key(event, given, "ErrorIrresolvableConflict")
        patch = parse.changes(
            updates,
            current_tz=event.tz,
            current_all_day=event.all_day,
            ext=event.ext,
            attendees=event.attendees,
            ctx_tz=call.tz,
        )
        item_id = occurrence_id(event.id, original) if original is not None else event.id
        if patch:
            call.state.calendars.update(call.mailbox, item_id, patch)
        message = success("UpdateItem")
        sub(sub(sub(message, m("Items")), t("CalendarItem")), t("ItemId"), Id=item_id, ChangeKey=change_key(event))
        sub(sub(message, m("ConflictResults")), t("Count"), 0)
        return message

    return _per_item("UpdateItem", list(op.find(m("ItemChanges")) or []), one)


def delete_item(call: Call, op: ET.Element) -> ET.Element:
    def one(elem: ET.Element) -> ET.Element:
        event, original = resolve(call, elem)
        item_id = occurrence_id(event.id, original) if original is not None else event.id
        call.state.calendars.delete(call.mailbox, item_id)
        return success("DeleteItem")

    return _per_item("DeleteItem", list(op.find(m("ItemIds")) or []), one)


def sync_folder_items(call: Call, op: ET.Element) -> ET.Element:
    try:
        shape = parse_shape(op.find(m("ItemShape")))
        _calendar(call, op.find(m("SyncFolderId")))
        limit = int(op.findtext(m("MaxChangesReturned")) or "100")
        if not 1 <= limit <= MAX_SYNC_CHANGES:
            raise ItemError("ErrorInvalidRequest", f"MaxChangesReturned must be 1 to {MAX_SYNC_CHANGES}.")
        token = (op.findtext(m("SyncState")) or "").strip() or None
        try:
            changes, new_token, last = call.ews.sync.changes(call.mailbox, token, limit)
        except InvalidSyncState as exc:
            raise ItemError("ErrorInvalidSyncStateData", str(exc)) from None
    except ItemError as exc:
        return response("SyncFolderItems", [error("SyncFolderItems", exc.code, exc.message)])
    message = success("SyncFolderItems")
    sub(message, m("SyncState"), new_token)
    sub(message, m("IncludesLastItemInRange"), last)
    container = sub(message, m("Changes"))
    for change in changes:
        elem = sub(container, t(change.kind))
        if change.event is None:
            sub(elem, t("ItemId"), Id=change.item_id, ChangeKey="")
        else:
            elem.append(render_item(change.event, shape))
    return response("SyncFolderItems", [message])


def get_room_lists(call: Call, op: ET.Element) -> ET.Element:
    outer = ET.Element(m("GetRoomListsResponse"), {"ResponseClass": "Success"})
    sub(outer, m("ResponseCode"), "NoError")
    lists = sub(outer, m("RoomLists"))
    for room_list in call.ews.room_lists(call.state):
        address = sub(lists, t("Address"))
        sub(address, t("Name"), room_list.name)
        sub(address, t("EmailAddress"), room_list.address)
        sub(address, t("RoutingType"), "SMTP")
        sub(address, t("MailboxType"), "PublicDL")
    return outer


def get_rooms(call: Call, op: ET.Element) -> ET.Element:
    wanted = (op.findtext(f"{m('RoomList')}/{t('EmailAddress')}") or "").strip().casefold()
    room_list = next((r for r in call.ews.room_lists(call.state) if r.address == wanted), None)
    if room_list is None:
        outer = ET.Element(m("GetRoomsResponse"), {"ResponseClass": "Error"})
        sub(outer, m("MessageText"), f"The room list {wanted} was not found.")
        sub(outer, m("ResponseCode"), "ErrorNameResolutionNoResults")
        return outer
    outer = ET.Element(m("GetRoomsResponse"), {"ResponseClass": "Success"})
    sub(outer, m("ResponseCode"), "NoError")
    rooms = sub(outer, m("Rooms"))
    for address in room_list.members:
        box = call.state.mailboxes.get(address)
        ident = sub(sub(rooms, t("Room")), t("Id"))
        sub(ident, t("Name"), box.name if box else address)
        sub(ident, t("EmailAddress"), address)
        sub(ident, t("RoutingType"), "SMTP")
        sub(ident, t("MailboxType"), "Mailbox")
    return outer


def convert_id(call: Call, op: ET.Element) -> ET.Element:
    """Only what clients use it for here: a request to read the version header from (ids are not converted)."""
    return response("ConvertId", [error("ConvertId", "ErrorInvalidIdMalformed", "Id is malformed.")])


def _not_here() -> ET.Element:
    raise SoapFault("ErrorInvalidRequest", "GetStreamingEvents is answered by the streaming connection.")


OPERATIONS: dict[str, Callable[[Call, ET.Element], ET.Element]] = {
    "GetFolder": get_folder,
    "FindItem": find_item,
    "GetItem": get_item,
    "CreateItem": create_item,
    "UpdateItem": update_item,
    "DeleteItem": delete_item,
    "SyncFolderItems": sync_folder_items,
    "GetRoomLists": get_room_lists,
    "GetRooms": get_rooms,
    "ConvertId": convert_id,
    "Subscribe": lambda call, op: call.ews.streaming.subscribe(call, op),
    "Unsubscribe": lambda call, op: call.ews.streaming.unsubscribe(call, op),
    "GetStreamingEvents": lambda call, op: _not_here(),
}
#: Operations that act on no mailbox.
DIRECTORY_OPERATIONS = frozenset({"GetRoomLists", "GetRooms", "ConvertId"})
