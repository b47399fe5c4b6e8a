"""The Graph BookingStore: the rooms of one RoomSync in Exchange Online.

Writes, and why they look the way they do:

- create: ONE event in the first room's calendar (rooms sorted by key), organised by that room, with the other rooms
  invited as ``resource`` attendees - Exchange delivers a copy with the same iCalUId to each of them, so the read
  side groups it back into one booking. The POST carries a ``transactionId`` derived from the RoomSync and the
  Planon peer id: a retried POST returns the first event instead of a second one.
- update: one PATCH of only the changed fields on the organizer's item (Exchange forwards the change to the other
  rooms); for meetings organised in Outlook, each room's own copy is patched and rooms taken out decline.
- cancel: the organizer's item is cancelled (``cancel`` with a comment when it has attendees, else deleted);
  rooms holding a copy of someone else's meeting decline it.
- respond: accept / decline / tentativelyAccept on each room's copy, with the comment, sending the response.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from msgraph.generated.models.event import Event

from roomsync.connectors.base import (
    AuthenticationFailed,
    BackendError,
    BookingRefused,
    NotFound,
    Response,
    StoreOptions,
)
from roomsync.connectors.graph import mapping
from roomsync.connectors.graph import recurrence as rec
from roomsync.connectors.graph.cache import MailboxState
from roomsync.connectors.graph.calls import MailboxCalls
from roomsync.connectors.graph.errors import BACKEND, MailboxAccessDenied
from roomsync.connectors.graph.items import Item, ItemError, from_event
from roomsync.connectors.graph.mapping import Copy, Invitations
from roomsync.model import Booking, Handle, Link, RoomPair, Side, SkippedItem, Snapshot, Status, Window

if TYPE_CHECKING:
    from roomsync.connectors.graph.client import GraphClient

log = logging.getLogger(__name__)
CONTENT_FIELDS = ("subject", "start", "end", "allDay", "recurrence")
PEOPLE_FIELDS = ("organizer", "required", "optional")
_TX_NAMESPACE = uuid.UUID("5b0c7d0e-4f55-4d2b-9a57-52f0a1d3c0de")


def transaction_id(roomsync: str, peer_id: str, seq: int) -> str:
    """Deterministic per (RoomSync, Planon peer, link sequence): every retry of one create sends the same
    transactionId, while a deliberate re-create after a deletion (a higher sequence) is never taken for a retry
    (Graph's dedup window for a deleted event is [unconfirmed])."""
    return str(uuid.uuid5(_TX_NAMESPACE, f"{roomsync}\x00{peer_id}\x00{seq}"))


def invitations_policy(options: StoreOptions) -> Invitations:
    return Invitations(options.invitations)


class GraphStore:
    side = Side.CALENDAR
    backend = BACKEND

    def __init__(self, client: GraphClient, rooms: Sequence[RoomPair], options: StoreOptions) -> None:
        self.client = client
        self.capabilities = client.capabilities
        self.rooms = list(rooms)
        self.options = options
        self.policy = invitations_policy(options)
        self.by_key = {r.key: r for r in self.rooms}
        self.room_of_mailbox = {r.calendar: r.key for r in self.rooms}

    # -- helpers -------------------------------------------------------------------------------------------------------
    def _state(self, room: RoomPair) -> MailboxState:
        return self.client.mailbox_state(room.calendar)

    def _calls(self, room: RoomPair) -> MailboxCalls:
        return self._state(room).calls

    def _room(self, key: str) -> RoomPair:
        room = self.by_key.get(key)
        if room is None:
            raise BookingRefused(f"room {key!r} is not part of this RoomSync", backend=BACKEND)
        return room

    @property
    def _ids(self) -> tuple[str, str]:
        return self.client.settings.link_property_id, self.client.settings.people_property_id

    def _parse(self, event: Event) -> Item:
        try:
            return from_event(event, *self._ids)
        except ItemError as exc:
            raise BackendError(f"unreadable event: {exc}", backend=BACKEND) from exc

    # -- reading -------------------------------------------------------------------------------------------------------
    async def read(self, window: Window, *, full: bool, rooms: Collection[str] | None = None) -> Snapshot:
        results = await asyncio.gather(
            *(self._state(r).refresh(window, full=full) for r in self.rooms), return_exceptions=True
        )
        unreadable: set[str] = set()
        errors: list[BaseException] = []
        for room, result in zip(self.rooms, results, strict=True):
            if isinstance(result, BaseException):
                if isinstance(result, AuthenticationFailed) and not isinstance(result, MailboxAccessDenied):
                    raise result
                if not isinstance(result, BackendError):
                    raise result
                log.warning("room %s (%s) unreadable: %s", room.key, room.calendar, result)
                unreadable.add(room.key)
                errors.append(result)
        if self.rooms and len(unreadable) == len(self.rooms):
            raise errors[0]
        copies: dict[str, list[Copy]] = defaultdict(list)
        skipped: list[SkippedItem] = []
        for room in self.rooms:
            if room.key in unreadable:
                continue
            state = self._state(room)
            singles, masters = state.in_window(window)
            for item in singles + masters:
                copies[item.ical_uid].append(Copy(room.key, room.calendar, item))
            skipped += [SkippedItem(room.key, item_id, reason) for item_id, reason in state.skipped.items()]
        bookings = []
        for uid, group in copies.items():
            try:
                bookings.append(mapping.to_booking(uid, group, self.room_of_mailbox))
            except (rec.RecurrenceNotExpressible, ValueError) as exc:
                skipped += [SkippedItem(c.room, c.item.id, f"cannot translate: {exc}") for c in group]
        return Snapshot(tuple(bookings), unreadable_rooms=frozenset(unreadable), skipped=tuple(skipped), full=full)

    async def lookup(self, ids: Collection[str]) -> dict[str, Booking]:
        found = await asyncio.gather(*(self._lookup_one(uid) for uid in ids))
        return {b.id: b for b in found if b is not None}

    async def _lookup_one(self, uid: str) -> Booking | None:
        async def in_room(room: RoomPair) -> list[Copy]:
            state = self._state(room)
            known = [
                i.id
                for i in (*state.masters.values(), *state.items.values())
                if i.ical_uid == uid and not i.series_master_id
            ]
            result = []
            try:
                events = [await state.calls.get(i, master=True) for i in known] or await state.calls.find_by_uid(uid)
                for event in events:
                    item = self._parse(event)
                    if item.type == "seriesMaster" and not known:
                        item = self._parse(await state.calls.get(item.id, master=True))
                    result.append(Copy(room.key, room.calendar, item))
            except NotFound:
                return []
            return result

        groups = await asyncio.gather(*(in_room(r) for r in self.rooms))
        copies = [c for group in groups for c in group]
        return mapping.to_booking(uid, copies, self.room_of_mailbox) if copies else None

    async def _copies(self, booking: Booking) -> list[Copy]:
        """The room items behind a booking, from the cache or (after a lookup) from Graph."""
        result = []
        items = booking.handle.items if booking.handle else {}
        for key, item_id in sorted((k, i) for k, ids in items.items() for i in ids):
            room = self._room(key)
            state = self._state(room)
            item = state.masters.get(item_id) or state.items.get(item_id)
            if item is None:
                try:
                    item = self._parse(await state.calls.get(item_id, master=booking.recurrence is not None))
                except NotFound:
                    continue
            result.append(Copy(key, room.calendar, item))
        return result

    # -- writing -------------------------------------------------------------------------------------------------------
    def _props(self, booking: Booking, link: Link | None, *, people: bool) -> dict[str, str]:
        link_id, people_id = self._ids
        props = {}
        if link is not None:
            props[link_id] = link.encode()
        if people:
            props[people_id] = mapping.people_text(booking)
        return props

    async def create(self, booking: Booking) -> Booking:
        if not booking.rooms:
            raise BookingRefused("a booking needs at least one room", backend=BACKEND)
        rooms = [self._room(k) for k in sorted(booking.rooms)]
        target, others = rooms[0], [r.calendar for r in rooms[1:]]
        peer = booking.link.peer_id if booking.link else booking.id
        props = self._props(booking, booking.link, people=True)
        try:
            event = mapping.new_event(
                booking,
                mapping.attendees_for(booking, self.policy, others),
                props,
                transaction_id(self.options.roomsync, peer, booking.link.seq if booking.link else 0),
            )
        except rec.RecurrenceNotExpressible as exc:
            raise BookingRefused(f"Exchange cannot express this recurrence: {exc}", backend=BACKEND) from exc
        state = self._state(target)
        created = self._parse(await state.calls.create(event))
        created = created.with_props(props.get(self._ids[0]), props.get(self._ids[1]))
        state.remember(created)
        if booking.recurrence is not None and (booking.recurrence.exdates or booking.recurrence.overrides):
            await self._apply_exceptions(state, created.id, booking)
        return replace(
            booking,
            id=created.ical_uid,
            ical_uid=created.ical_uid,
            handle=Handle({target.key: (created.id,)}, {created.id: created.change_key} if created.change_key else {}),
            status=Status.CONFIRMED,
            awaiting_response=False,
            last_modified=created.last_modified,
        )

    async def update(self, current: Booking, desired: Booking, fields: Sequence[str]) -> Booking:
        changed = set(fields)
        copies = await self._copies(current)
        if not copies:
            raise NotFound(f"{current.id} is gone from every room", backend=BACKEND)
        organizer = next((c for c in copies if c.item.is_organizer), None)
        if organizer is not None:
            await self._update_organized(organizer, copies, current, desired, changed)
        else:
            await self._update_foreign(copies, current, desired, changed)
        result = replace(current.with_content_of(desired), link=desired.link)
        if current.status is Status.CANCELLED:
            result = replace(result, status=Status.CANCELLED)
        return result

    def _content_patch(self, desired: Booking, changed: set[str]) -> Event:
        patch = Event()
        if "subject" in changed:
            patch.subject = desired.subject
        if changed & {"start", "end", "allDay", "recurrence"}:
            patch.start, patch.end = mapping.when(desired.start, desired), mapping.when(desired.end, desired)
            patch.is_all_day = desired.all_day
        if "recurrence" in changed:
            if desired.recurrence is None:
                patch.additional_data["recurrence"] = None
            else:
                try:
                    patch.recurrence = rec.to_graph(desired.recurrence, desired.start, desired.timezone)
                except rec.RecurrenceNotExpressible as exc:
                    raise BookingRefused(f"Exchange cannot express this recurrence: {exc}", backend=BACKEND) from exc
        return patch

    async def _update_organized(
        self, organizer: Copy, copies: list[Copy], current: Booking, desired: Booking, changed: set[str]
    ) -> None:
        room = self._room(organizer.room)
        if organizer.room not in desired.rooms:
            raise BookingRefused(
                f"room {organizer.room} organises this meeting and cannot leave it; cancel and book again",
                backend=BACKEND,
            )
        patch = self._content_patch(desired, changed)
        people = bool(changed & set(PEOPLE_FIELDS))
        if people or "rooms" in changed:
            others = [self._room(k).calendar for k in sorted(desired.rooms - {organizer.room})]
            ours = set(self.room_of_mailbox)
            preserved = [a for a in organizer.item.attendees if a.type == "resource" and a.email not in ours]
            patch.attendees = mapping.attendees_for(desired, self.policy, others, preserved)
        props = self._props(desired, desired.link, people=people)
        if props:
            patch.single_value_extended_properties = mapping.extended(props)
        state = self._state(room)
        await state.calls.patch(organizer.item.id, patch)
        link_id, people_id = self._ids
        state.set_props(
            organizer.item.id,
            props.get(link_id, organizer.item.link_text),
            props.get(people_id, False),
        )
        if "recurrence" in changed and desired.recurrence is not None:
            await self._apply_exceptions(state, organizer.item.id, desired)

    async def _update_foreign(self, copies: list[Copy], current: Booking, desired: Booking, changed: set[str]) -> None:
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
                await self._respond_copy(copy, "decline", "Removed from this meeting in Planon.")
        patch = self._content_patch(desired, changed)
        props = self._props(desired, desired.link, people=False)
        if props:
            patch.single_value_extended_properties = mapping.extended(props)
        link_id = self._ids[0]
        for copy in copies:
            if copy.room in removed or copy.item.is_cancelled:
                continue
            state = self._state(self._room(copy.room))
            await state.calls.patch(copy.item.id, patch)
            state.set_props(copy.item.id, props.get(link_id, copy.item.link_text))
            if "recurrence" in changed and desired.recurrence is not None:
                await self._apply_exceptions(state, copy.item.id, desired)

    async def _apply_exceptions(self, state: MailboxState, master_id: str, booking: Booking) -> None:
        """Cancel and move occurrences so the series matches the booking's exdates and overrides."""
        recurrence = booking.recurrence
        assert recurrence is not None
        targets = set(recurrence.exdates) | {o.original_start for o in recurrence.overrides}
        if not targets:
            return
        lo = min(targets) - timedelta(days=1)
        hi = max(max(targets), *(o.end for o in recurrence.overrides)) + booking.duration + timedelta(days=1)
        instances = [self._parse(e) for e in await state.calls.instances(master_id, lo, hi)]
        by_original: dict[datetime, Item] = {i.original_start: i for i in instances if i.original_start}
        for original in sorted(recurrence.exdates):
            item = by_original.get(original)
            if item is not None:
                await state.calls.delete(item.id)
        for change in recurrence.overrides:
            item = by_original.get(change.original_start)
            if item is None:
                continue
            subject = change.subject or booking.subject
            if item.start == change.start and item.end == change.end and item.subject == subject:
                continue
            patch = Event(start=mapping.when(change.start, booking), end=mapping.when(change.end, booking))
            if change.subject:
                patch.subject = change.subject
            await state.calls.patch(item.id, patch)

    async def cancel(self, current: Booking, reason: str) -> None:
        copies = [c for c in await self._copies(current) if not c.item.is_cancelled]
        organizer = next((c for c in copies if c.item.is_organizer), None)
        if organizer is not None:
            state = self._state(self._room(organizer.room))
            try:
                if organizer.item.attendees:
                    await state.calls.cancel(organizer.item.id, reason)  # tells the attendees and the other rooms
                else:
                    await state.calls.delete(organizer.item.id)
            except NotFound:
                pass
            state.forget(organizer.item.id)
            return
        for copy in copies:
            await self._respond_copy(copy, "decline", reason)

    async def _respond_copy(self, copy: Copy, action: str, comment: str) -> None:
        state = self._state(self._room(copy.room))
        try:
            await state.calls.respond(copy.item.id, action, comment)
        except NotFound:
            state.forget(copy.item.id)
            return
        if action == "decline":
            state.forget(copy.item.id)

    async def respond(self, current: Booking, response: Response, comment: str) -> None:
        copies = [c for c in await self._copies(current) if not c.item.is_organizer and not c.item.is_cancelled]
        if not copies:
            raise NotFound(f"{current.id}: no room holds a meeting request to answer", backend=BACKEND)
        for copy in copies:
            await self._respond_copy(copy, response.value, comment)

    async def relink(self, current: Booking, link: Link) -> None:
        props = self._props(current, link, people=False)
        copies = [c for c in await self._copies(current)]
        if not copies:
            raise NotFound(f"{current.id} is gone from every room", backend=BACKEND)
        for copy in copies:
            state = self._state(self._room(copy.room))
            await state.calls.patch(copy.item.id, Event(single_value_extended_properties=mapping.extended(props)))
            state.set_props(copy.item.id, link.encode())

    async def aclose(self) -> None:
        return None  # the client owns the connections; it is closed with the Connection
