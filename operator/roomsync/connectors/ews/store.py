"""The EWS BookingStore: the rooms of one RoomSync in Exchange on-premise.

Writes, and why they look the way they do (the same shapes as the Graph connector, so a room can move between them):

- create: ONE meeting in the first room's calendar (rooms sorted by key), organised by that room, the other rooms
  invited as Resources - Exchange delivers a copy with the same UID to each. CreateItem carries a UID RoomSync
  chooses (Exchange's GOID form), so the booking's id is known without reading the item back. There is no
  transactionId in EWS: a create whose answer was lost (503, 5xx, time-out, reset) is made idempotent by looking the
  link up (FindItem on the link property) before it is tried again - in the same call and in later cycles.
  SendMeetingInvitations: SendToAllAndSaveCopy when the meeting has attendees (the other rooms must receive it;
  people per ``spec.invitations``), SendToNone otherwise.
- update: UpdateItem of only the changed fields with ConflictResolution NeverOverwrite and the ChangeKey the plan
  was made on, so a person's edit in between is refused (``PreconditionFailed``), never overwritten. When the room
  that organises the meeting leaves it, the meeting is booked again in the first remaining room (with the link) and
  the old one cancelled; the returned booking has the new id. Meetings organised in Outlook: each room's copy is
  updated; a room taken out declines.
- cancel: the organizer's item is cancelled (CancelCalendarItem with the reason, which tells attendees and rooms)
  or, without attendees, moved to Deleted Items; rooms holding someone else's meeting decline it.
- respond: AcceptItem / DeclineItem / TentativelyAcceptItem on each room's copy, the comment (Planon's reason) as
  the body, sent to the organizer.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from roomsync.connectors.base import (
    BookingRefused,
    Invitations,
    NotFound,
    Response,
    StoreOptions,
    read_each_room,
)
from roomsync.connectors.ews import calls, mapping
from roomsync.connectors.ews import recurrence as rec
from roomsync.connectors.ews.errors import BACKEND, MailboxAccessDenied, WriteUncertain
from roomsync.connectors.ews.items import Item, utc
from roomsync.connectors.ews.mailbox import MailboxState
from roomsync.connectors.ews.props import GOID_ATTRIBUTE
from roomsync.connectors.exchange import Copy
from roomsync.model import Booking, Handle, Link, RoomPair, Side, SkippedItem, Snapshot, Status, Window
from roomsync.model.people_text import encode_people

if TYPE_CHECKING:
    from roomsync.connectors.ews.client import EwsClient

log = logging.getLogger(__name__)
PEOPLE_FIELDS = frozenset({"organizer", "required", "optional"})
TIME_FIELDS = frozenset({"start", "end", "allDay", "recurrence"})
#: The fixed part of an Exchange GlobalObjectId (as the UIDs of Outlook meetings are written).
GOID_PREFIX = "040000008200E00074C5B7101A82E008"


def new_uid() -> str:
    return GOID_PREFIX + "00000000" + secrets.token_hex(24).upper()


class EwsStore:
    side = Side.CALENDAR
    backend = BACKEND

    def __init__(self, client: EwsClient, rooms: Sequence[RoomPair], options: StoreOptions) -> None:
        self.client = client
        self.capabilities = client.capabilities
        self.rooms = list(rooms)
        self.options = options
        self.policy = Invitations(options.invitations)
        self.by_key = {r.key: r for r in self.rooms}
        self.room_of_mailbox = {r.calendar: r.key for r in self.rooms}
        #: creates whose answer was lost: the link is looked up before they are tried again
        self._uncertain: set[tuple[str, int]] = set()
        #: rooms written since their last read: a narrowed read (``rooms=``) reads them too
        self._written: set[str] = set()

    # -- helpers -------------------------------------------------------------------------------------------------------
    def _state(self, room: RoomPair) -> MailboxState:
        state: MailboxState = self.client.mailbox_state(room.calendar)
        return state

    def _room(self, key: str) -> RoomPair:
        room = self.by_key.get(key)
        if room is None:
            raise BookingRefused(f"room {key!r} is not part of this RoomSync", backend=BACKEND)
        return room

    async def _write(self, room: RoomPair, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self._written.add(room.key)
        return await self.client.run(room.calendar, what, lambda folders: fn(folders, *args, **kwargs), write=True)

    async def _update(
        self, room: RoomPair, item_id: str, change_key: str, values: dict[str, Any], *, notify: bool
    ) -> str:
        """UpdateItem (NeverOverwrite with ``change_key``); remembers the new key as our own doing."""
        new_key: str = await self._write(room, "UpdateItem", calls.update, item_id, change_key, values, notify=notify)
        self._state(room).supersede(item_id, change_key, new_key)
        return new_key

    # -- reading -------------------------------------------------------------------------------------------------------
    async def read(self, window: Window, *, full: bool, rooms: Collection[str] | None = None) -> Snapshot:
        wanted = [
            r
            for r in self.rooms
            if rooms is None or r.key in rooms or r.key in self._written or self._state(r).span is None
        ]
        read, unreadable = await read_each_room(
            wanted,
            lambda r: self._state(r).refresh(window, full=full),
            of=len(self.rooms),
            one_room=(MailboxAccessDenied,),
        )
        for room, _ in read:
            self._written.discard(room.key)
        copies: dict[str, list[Copy[Item]]] = defaultdict(list)
        skipped: list[SkippedItem] = []
        for room in self.rooms:
            if room.key in unreadable:
                continue
            state = self._state(room)
            for item in state.in_window(window):
                copies[item.uid].append(Copy(room.key, room.calendar, item))
            skipped += [SkippedItem(room.key, item_id, reason) for item_id, reason in state.skipped.items()]
        bookings = []
        for uid, group in copies.items():
            try:
                booking = mapping.to_booking(uid, group, self.room_of_mailbox)
            except (rec.RecurrenceNotExpressible, ValueError) as exc:
                skipped += [SkippedItem(c.room, c.item.id, f"cannot translate: {exc}") for c in group]
                continue
            if booking.recurrence is None or booking.overlaps(window):
                bookings.append(booking)
        return Snapshot(tuple(bookings), unreadable_rooms=frozenset(unreadable), skipped=tuple(skipped), full=full)

    async def lookup(self, ids: Collection[str]) -> dict[str, Booking]:
        found = await asyncio.gather(*(self._lookup_one(uid) for uid in ids))
        return {b.id: b for b in found if b is not None}

    async def _lookup_one(self, uid: str) -> Booking | None:
        async def in_room(room: RoomPair) -> list[Copy[Item]]:
            state = self._state(room)
            known = [i.id for i in state.items.values() if i.uid == uid]
            try:
                if not known:
                    if not _is_hex(uid):
                        return []  # not an Exchange GOID: only items already read can be found
                    goid = {GOID_ATTRIBUTE: bytes.fromhex(uid)}
                    rows = await self.client.run(room.calendar, "FindItem", lambda f: calls.find(f, **goid))
                    known = [s.id for s in rows]
                fetched = await state.fetch([calls.item_id(i) for i in known])
            except NotFound:
                return []
            return [Copy(room.key, room.calendar, item) for item in fetched.values() if item.uid == uid]

        groups = await asyncio.gather(*(in_room(r) for r in self.rooms))
        copies = [c for group in groups for c in group]
        return mapping.to_booking(uid, copies, self.room_of_mailbox) if copies else None

    async def _copies(self, booking: Booking) -> list[Copy[Item]]:
        """The room items behind a booking, at the versions the booking was read at."""
        result = []
        handle = booking.handle
        items = handle.items if handle else {}
        for key, item_id in sorted((k, i) for k, ids in items.items() for i in ids):
            room = self._room(key)
            state = self._state(room)
            item = state.items.get(item_id)
            if item is None:
                fetched = await state.fetch([calls.item_id(item_id)])
                item = fetched.get(item_id)
                if item is None:
                    continue
            version = state.version(item_id, (handle.version(item_id) if handle else None) or item.change_key)
            result.append(Copy(key, room.calendar, replace(item, change_key=version)))
        return result

    # -- writing -------------------------------------------------------------------------------------------------------
    def _props(self, booking: Booking, link: Link | None, *, people: bool) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if link is not None:
            values[self.client.link_attr] = link.encode()
        if people:
            values[self.client.people_attr] = encode_people(booking)
        return values

    async def create(self, booking: Booking) -> Booking:
        if not booking.rooms:
            raise BookingRefused("a booking needs at least one room", backend=BACKEND)
        rooms = [self._room(k) for k in sorted(booking.rooms)]
        target, others = rooms[0], [r.calendar for r in rooms[1:]]
        key = (booking.link.peer_id, booking.link.seq) if booking.link else None
        if key is not None and key in self._uncertain:
            existing = await self._created_before(target, booking)
            if existing is not None:
                return existing
        uid = new_uid()
        try:
            values = {
                **mapping.content(booking),
                **mapping.attendees_for(booking, self.policy, others),
                **self._props(booking, booking.link, people=True),
                "uid": uid,
                "legacy_free_busy_status": "Busy",
            }
        except rec.RecurrenceNotExpressible as exc:
            raise BookingRefused(f"Exchange cannot express this recurrence: {exc}", backend=BACKEND) from exc
        invite = bool(values["required_attendees"] or values["optional_attendees"] or values["resources"])
        try:
            item_id, change_key = await self._write(target, "CreateItem", calls.create, values, invite=invite)
        except WriteUncertain:
            if key is None:
                raise
            self._uncertain.add(key)
            existing = await self._created_before(target, booking)
            if existing is not None:
                return existing
            log.info("ews: create for %s was not carried out; trying once more", key[0])
            item_id, change_key = await self._write(target, "CreateItem", calls.create, values, invite=invite)
        if key is not None:
            self._uncertain.discard(key)
        if booking.recurrence is not None and (booking.recurrence.exdates or booking.recurrence.overrides):
            await self._apply_exceptions(target, uid, booking, change_key)
        return replace(
            booking,
            id=uid,
            ical_uid=uid,
            handle=Handle({target.key: (item_id,)}, {item_id: change_key}),
            status=Status.CONFIRMED,
            awaiting_response=False,
        )

    async def _created_before(self, target: RoomPair, booking: Booking) -> Booking | None:
        """The meeting an earlier attempt of this create made, found by its link (FindItem on the link property)."""
        assert booking.link is not None
        needle = f";{booking.link.peer_id}"
        link_attr = self.client.link_attr
        condition = {f"{link_attr}__contains": needle}
        rows = await self.client.run(target.calendar, "FindItem", lambda f: calls.find(f, **condition))
        if not rows:
            return None
        fetched = await self._state(target).fetch(calls.ids_of(rows))
        for item in fetched.values():
            link = Link.decode(item.link_text)
            if link is not None and link.peer_id == booking.link.peer_id and link.seq == booking.link.seq:
                log.info("ews: create for %s resumes meeting %s", booking.link.peer_id, item.uid)
                self._uncertain.discard((booking.link.peer_id, booking.link.seq))
                return mapping.to_booking(item.uid, [Copy(target.key, target.calendar, item)], self.room_of_mailbox)
        return None

    async def update(self, current: Booking, desired: Booking, fields: Sequence[str]) -> Booking:
        changed = set(fields)
        copies = await self._copies(current)
        if not copies:
            raise NotFound(f"{current.id} is gone from every room", backend=BACKEND)
        organizer = next((c for c in copies if c.item.is_organizer), None)
        if organizer is not None and organizer.room not in desired.rooms:
            return await self._rebook(organizer, current, desired)
        if organizer is not None:
            await self._update_organized(organizer, desired, changed)
        else:
            await self._update_foreign(copies, current, desired, changed)
        result = replace(current.with_content_of(desired), link=desired.link)
        if current.status is Status.CANCELLED:
            result = replace(result, status=Status.CANCELLED)
        return result

    async def _rebook(self, organizer: Copy[Item], current: Booking, desired: Booking) -> Booking:
        """The organising room leaves: the meeting is booked anew in the remaining rooms, then the old one cancelled."""
        created = await self.create(desired)
        await self._cancel_organized(organizer, "Moved to another room in Planon.")
        return created

    def _content_values(self, desired: Booking, changed: set[str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if "subject" in changed:
            values["subject"] = desired.subject
        if changed & TIME_FIELDS:
            values.update(mapping.times(desired))
        if "recurrence" in changed:
            try:
                values["recurrence"] = (
                    rec.to_ews(desired.recurrence, desired.start, desired.timezone) if desired.recurrence else None
                )
            except rec.RecurrenceNotExpressible as exc:
                raise BookingRefused(f"Exchange cannot express this recurrence: {exc}", backend=BACKEND) from exc
        return values

    async def _update_organized(self, organizer: Copy[Item], desired: Booking, changed: set[str]) -> None:
        room = self._room(organizer.room)
        values = self._content_values(desired, changed)
        people = bool(changed & PEOPLE_FIELDS)
        attendees: dict[str, Any] = {}
        if people or "rooms" in changed:
            others = [self._room(k).calendar for k in sorted(desired.rooms - {organizer.room})]
            ours = set(self.room_of_mailbox)
            preserved = [a for a in organizer.item.attendees if a.type == "resource" and a.email not in ours]
            attendees = mapping.attendees_for(desired, self.policy, others, preserved)
            values.update(attendees)
        values.update(self._props(desired, desired.link, people=people))
        notify = bool(organizer.item.attendees) or any(attendees.values())
        change_key = await self._update(room, organizer.item.id, organizer.item.change_key, values, notify=notify)
        if "recurrence" in changed and desired.recurrence is not None:
            await self._apply_exceptions(room, organizer.item.uid, desired, change_key)

    async def _update_foreign(
        self, copies: list[Copy[Item]], current: Booking, desired: Booking, changed: set[str]
    ) -> None:
        added = desired.rooms - current.rooms
        if added and "rooms" in changed:
            raise BookingRefused(
                f"rooms {', '.join(sorted(added))} cannot be added to a meeting organised in Outlook by "
                f"{current.organizer.email if current.organizer else 'someone else'}; the organizer must invite them",
                backend=BACKEND,
            )
        removed = current.rooms - desired.rooms
        for copy in copies:
            if copy.room in removed:
                await self._respond_copy(copy, Response.DECLINE, "Removed from this meeting in Planon.")
        values = {**self._content_values(desired, changed), **self._props(desired, desired.link, people=False)}
        for copy in copies:
            if copy.room in removed or copy.item.is_cancelled:
                continue
            room = self._room(copy.room)
            change_key = await self._update(room, copy.item.id, copy.item.change_key, values, notify=False)
            if "recurrence" in changed and desired.recurrence is not None:
                await self._apply_exceptions(room, copy.item.uid, desired, change_key)

    async def _apply_exceptions(self, room: RoomPair, uid: str, booking: Booking, change_key: str) -> None:
        """Move and delete occurrences so the series matches the booking's overrides and exdates.

        A series has one ChangeKey, shared by the master and its occurrences (Microsoft's OccurrenceItemId
        documentation), so the writes carry the key of the write before them, starting from the master's: a person's
        edit of the series in between is refused, not overwritten. Moves come first because UpdateItem returns the
        new key; DeleteItem returns none.
        """
        recurrence = booking.recurrence
        assert recurrence is not None
        targets = set(recurrence.exdates) | {o.original_start for o in recurrence.overrides}
        if not targets:
            return
        lo = min(targets) - timedelta(days=1)
        hi = max([*targets, *(o.end for o in recurrence.overrides)]) + booking.duration + timedelta(days=1)
        seen, _ = await self.client.run(room.calendar, "FindItem", lambda f: calls.view(f, lo, hi))
        occurrences = [s for s in seen if s.uid == uid and s.type in ("Occurrence", "Exception")]
        details = await self.client.run(
            room.calendar,
            "GetItem",
            lambda f: calls.get(f, calls.ids_of(occurrences), ["original_start", "start", "end", "subject"]),
        )
        by_original: dict[datetime, Any] = {
            utc(d.original_start): d for d in details if not isinstance(d, Exception) and d.original_start is not None
        }
        for change in recurrence.overrides:
            found = by_original.get(change.original_start)
            if found is None:
                continue
            subject = change.subject or booking.subject
            if utc(found.start) == change.start and utc(found.end) == change.end and (found.subject or "") == subject:
                continue
            values: dict[str, Any] = mapping.times(
                replace(booking, start=change.start, end=change.end, recurrence=None)
            )
            values.pop("is_all_day", None)
            if change.subject:
                values["subject"] = change.subject
            change_key = await self._update(room, found.id, change_key, values, notify=True)
        for original in sorted(recurrence.exdates):
            found = by_original.get(original)
            if found is not None:
                await self._write(room, "DeleteItem", calls.delete, found.id, change_key, notify=True)

    async def cancel(self, current: Booking, reason: str) -> None:
        copies = [c for c in await self._copies(current) if not c.item.is_cancelled]
        organizer = next((c for c in copies if c.item.is_organizer), None)
        if organizer is not None:
            await self._cancel_organized(organizer, reason)
            return
        for copy in copies:
            await self._respond_copy(copy, Response.DECLINE, reason)

    async def _cancel_organized(self, organizer: Copy[Item], reason: str) -> None:
        room = self._room(organizer.room)
        item = organizer.item
        try:
            if item.attendees:
                await self._write(room, "CreateItem", calls.cancel_meeting, item.id, item.change_key, reason)
            else:
                await self._write(room, "DeleteItem", calls.delete, item.id, item.change_key, notify=False)
        except NotFound:
            pass
        self._state(room).forget(item.id)

    async def _respond_copy(self, copy: Copy[Item], response: Response, comment: str) -> None:
        room = self._room(copy.room)
        try:
            await self._write(room, "CreateItem", calls.respond, response, copy.item.id, copy.item.change_key, comment)
        except NotFound:
            self._state(room).forget(copy.item.id)
            return
        if response is Response.DECLINE:
            self._state(room).forget(copy.item.id)

    async def respond(self, current: Booking, response: Response, comment: str) -> None:
        copies = [c for c in await self._copies(current) if not c.item.is_organizer and not c.item.is_cancelled]
        if not copies:
            raise NotFound(f"{current.id}: no room holds a meeting request to answer", backend=BACKEND)
        for copy in copies:
            await self._respond_copy(copy, response, comment)

    async def relink(self, current: Booking, link: Link) -> None:
        copies = await self._copies(current)
        if not copies:
            raise NotFound(f"{current.id} is gone from every room", backend=BACKEND)
        values = self._props(current, link, people=False)
        for copy in copies:
            room = self._room(copy.room)
            await self._update(room, copy.item.id, copy.item.change_key, values, notify=False)

    async def aclose(self) -> None:
        return None  # the client owns the threads and connections; it is closed with the Connection


def _is_hex(value: str) -> bool:
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return bool(value)
