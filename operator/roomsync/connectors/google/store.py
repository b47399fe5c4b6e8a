"""The Google BookingStore: the rooms of one RoomSync in Google Workspace.

Writes, and why they look the way they do (docs/google-workspace.md):

- create: ONE insert into the first room's calendar (rooms sorted by key) by the delegated booking user, so Google
  makes that room the organizer; the other rooms are invited as resources (each gets a copy with the same
  iCalUID). The event id is client-supplied, derived from the RoomSync, the Planon peer id and the link's sequence
  number: a retried insert answers 409 ``duplicate`` and the event made by the first attempt is returned. The link
  and the people go into the room copy's private extended properties in the same insert; cancelled occurrences
  as an EXDATE line; moved occurrences need one patch each.
- update: one PATCH of only the changed fields, ``If-Match`` on the etag the booking was read at (412 ->
  ``PreconditionFailed``, nothing written). A change of rooms is a patch of the attendees; when the organizing
  room leaves, the event is first moved (``events.move``) to the new first room, keeping its id and iCalUID.
  Meetings a person organizes can only lose rooms (the room declines) and carry the link; their content belongs
  to the organizer (403 ``forbiddenForNonOrganizer``), so such changes are refused with that reason.
- cancel: the organizing room's event is deleted (the other rooms' copies are cancelled by Google); a room holding
  a copy of someone else's meeting declines it.
- respond: the room's answer on its own copy: ``attendeesOmitted`` with only the room's attendee entry, its
  ``responseStatus`` and Planon's reason as the attendee ``comment``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from roomsync.connectors.base import (
    BookingRefused,
    Invitations,
    NotFound,
    Response,
    StoreOptions,
    read_each_room,
)
from roomsync.connectors.google import mapping
from roomsync.connectors.google import recurrence as rec
from roomsync.connectors.google.calendar import CalendarState
from roomsync.connectors.google.errors import BACKEND, CalendarAccessDenied
from roomsync.connectors.google.items import Item
from roomsync.connectors.google.mapping import Copy
from roomsync.model import Booking, Handle, Link, RoomPair, Side, SkippedItem, Snapshot, Status, Window

if TYPE_CHECKING:
    from roomsync.connectors.google.client import GoogleClient

log = logging.getLogger(__name__)
PEOPLE_FIELDS = frozenset({"organizer", "required", "optional"})
CONTENT_FIELDS = frozenset({"subject", "start", "end", "allDay", "recurrence"})
ANSWERS = {Response.ACCEPT: "accepted", Response.DECLINE: "declined", Response.TENTATIVE: "tentative"}
_BASE32HEX = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "abcdefghijklmnopqrstuv0123456789")


def event_id(roomsync: str, peer_id: str, seq: int) -> str:
    """A client-supplied event id (base32hex, a-v and 0-9) per (RoomSync, Planon peer, link sequence): every retry
    of one create sends the same id, while a deliberate re-create after a deletion (a higher sequence) does not."""
    digest = hashlib.sha256(f"{roomsync}\x00{peer_id}\x00{seq}".encode()).digest()[:20]
    return "rs" + base64.b32encode(digest).decode().translate(_BASE32HEX)


def group_key(item: Item, siblings: Sequence[Item]) -> str:
    """The iCalUID; a later series sharing it (a "this and following" split that kept it) gets its start too."""
    if item.start is None or not any(s.start is not None and s.start < item.start for s in siblings):
        return item.ical_uid
    return f"{item.ical_uid}#{item.start.strftime('%Y%m%dT%H%M%SZ')}"


class GoogleStore:
    side = Side.CALENDAR
    backend = BACKEND

    def __init__(self, client: GoogleClient, rooms: Sequence[RoomPair], options: StoreOptions) -> None:
        self.client = client
        self.capabilities = client.capabilities
        self.rooms = list(rooms)
        self.options = options
        self.policy = Invitations(options.invitations)
        self.by_key = {r.key: r for r in self.rooms}
        self.room_of_calendar = {r.calendar: r.key for r in self.rooms}
        settings = client.settings
        self.link_key, self.people_key = settings.link_property, settings.people_property

    def _state(self, room: RoomPair) -> CalendarState:
        return self.client.calendar_state(room.calendar)

    def _room(self, key: str) -> RoomPair:
        room = self.by_key.get(key)
        if room is None:
            raise BookingRefused(f"room {key!r} is not part of this RoomSync", backend=BACKEND)
        return room

    # -- reading -------------------------------------------------------------------------------------------------
    async def read(self, window: Window, *, full: bool, rooms: Collection[str] | None = None) -> Snapshot:
        wanted = [r for r in self.rooms if rooms is None or r.key in rooms or self._state(r).span is None]
        _, unreadable = await read_each_room(
            wanted,
            lambda r: self._state(r).refresh(window, full=full),
            of=len(self.rooms),
            one_room=(CalendarAccessDenied,),
        )
        groups, skipped = self._groups([r for r in self.rooms if r.key not in unreadable], window)
        bookings = []
        for key, copies in groups.items():
            try:
                booking = mapping.to_booking(key, copies, self.room_of_calendar, self.link_key, self.people_key)
            except (rec.RecurrenceNotExpressible, ValueError) as exc:
                skipped += [SkippedItem(c.room, c.item.id, f"cannot translate: {exc}") for c in copies]
                continue
            if booking.overlaps(window):
                bookings.append(booking)
        return Snapshot(tuple(bookings), unreadable_rooms=frozenset(unreadable), skipped=tuple(skipped), full=full)

    def _groups(
        self, rooms: Sequence[RoomPair], window: Window | None
    ) -> tuple[dict[str, list[Copy]], list[SkippedItem]]:
        groups: dict[str, list[Copy]] = defaultdict(list)
        skipped: list[SkippedItem] = []
        for room in rooms:
            state = self._state(room)
            tops, instances = state.entries(window)
            by_uid: dict[str, list[Item]] = defaultdict(list)
            for item in tops:
                by_uid[item.ical_uid].append(item)
            for item in tops:
                key = group_key(item, by_uid[item.ical_uid])
                groups[key].append(Copy(room.key, room.calendar, item, tuple(instances.get(item.id, ()))))
            skipped += [SkippedItem(room.key, item_id, reason) for item_id, reason in state.skipped.items()]
        return groups, skipped

    async def lookup(self, ids: Collection[str]) -> dict[str, Booking]:
        """Point reads by booking id (iCalUID) in every room: a meeting that left one room for another (Google's
        auto-replacement) is found in the new room before anything is cancelled in Planon."""
        uids = sorted({i.split("#", 1)[0] for i in ids})

        async def in_room(room: RoomPair, uid: str) -> None:
            state = self._state(room)
            for item in await state.find_by_uid(uid):
                state.remember(item)

        await asyncio.gather(*(in_room(r, uid) for r in self.rooms for uid in uids))
        groups, _ = self._groups(self.rooms, None)
        found = {}
        for key, copies in groups.items():
            if key in ids:
                try:
                    found[key] = mapping.to_booking(key, copies, self.room_of_calendar, self.link_key, self.people_key)
                except (rec.RecurrenceNotExpressible, ValueError) as exc:
                    log.warning("looked-up booking %s cannot be translated: %s", key, exc)
        return found

    async def _copies(self, booking: Booking) -> list[Copy]:
        """The room entries behind a booking, from the cache or (after a lookup) from Google."""
        result = []
        items = booking.handle.items if booking.handle else {}
        for key, item_id in sorted((k, i) for k, ids in items.items() for i in ids):
            room = self._room(key)
            state = self._state(room)
            item = state.items.get(item_id)
            if item is None or item.stub:
                try:
                    item = await state.get(item_id)
                except NotFound:
                    continue
                state.remember(item)
            instances = tuple(i for i in state.items.values() if i.recurring_event_id == item_id)
            result.append(Copy(key, room.calendar, item, instances))
        return result

    def _version(self, booking: Booking, item: Item) -> str:
        version = booking.handle.version(item.id) if booking.handle else None
        return version or item.etag

    # -- writing -------------------------------------------------------------------------------------------------
    def _link(self, link: Link | None) -> dict[str, str]:
        if link is None:
            return {}
        text = link.encode()
        if len(text) > mapping.MAX_VALUE:
            raise BookingRefused(
                f"the link {text[:40]}... has {len(text)} characters; Google keeps {mapping.MAX_VALUE}",
                backend=BACKEND,
            )
        return {self.link_key: text}

    @property
    def _send_updates(self) -> str:
        return "none" if self.policy is Invitations.NONE else "all"

    async def create(self, booking: Booking) -> Booking:
        if not booking.rooms:
            raise BookingRefused("a booking needs at least one room", backend=BACKEND)
        rooms = [self._room(k) for k in sorted(booking.rooms)]
        target, others = rooms[0], [r.calendar for r in rooms[1:]]
        peer = booking.link.peer_id if booking.link else booking.id
        private: dict[str, Any] = {
            **self._link(booking.link),
            **mapping.people_properties(booking, self.people_key, {}),
        }
        body: dict[str, Any] = {
            "id": event_id(self.options.roomsync, peer, booking.link.seq if booking.link else 0),
            "summary": booking.subject,
            "start": mapping.when(booking.start, booking),
            "end": mapping.when(booking.end, booking),
            "attendees": mapping.attendees_for(booking, self.policy, others),
            "extendedProperties": {"private": private},
            "guestsCanModify": False,
        }
        if booking.recurrence is not None:
            body["recurrence"] = rec.to_google(booking.recurrence, booking.timezone, booking.all_day)
        state = self._state(target)
        item = await state.insert(body, self._send_updates)
        if booking.recurrence is not None and booking.recurrence.overrides and not item.cancelled:
            await self._apply_overrides(state, item, booking)
        return replace(
            booking,
            id=item.ical_uid,
            ical_uid=item.ical_uid,
            handle=Handle({target.key: (item.id,)}, {item.id: item.etag}),
            status=Status.CANCELLED if item.cancelled else Status.CONFIRMED,
            awaiting_response=False,
            last_modified=item.updated,
        )

    async def _apply_overrides(self, state: CalendarState, master: Item, booking: Booking) -> None:
        """Move or rename occurrences so the series matches the booking's overrides (one patch each)."""
        recurrence = booking.recurrence
        assert recurrence is not None
        lo = min(o.original_start for o in recurrence.overrides) - timedelta(days=1)
        hi = max(max(o.end, o.original_start) for o in recurrence.overrides) + booking.duration + timedelta(days=1)
        instances = {i.original_start: i for i in await state.instances(master.id, lo, hi) if i.original_start}
        for change in recurrence.overrides:
            instance = instances.get(change.original_start)
            if instance is None or instance.cancelled:
                continue
            subject = change.subject or booking.subject
            if (instance.start, instance.end, instance.summary) == (change.start, change.end, subject):
                continue
            patch = {
                "start": mapping.when(change.start, booking),
                "end": mapping.when(change.end, booking),
                "summary": subject,
            }
            request = state.events.patch(
                calendarId=state.calendar, eventId=instance.id, body=patch, sendUpdates=self._send_updates
            )
            await state.write("events.patch", request, if_match=instance.etag, item_id=instance.id)

    async def update(self, current: Booking, desired: Booking, fields: Sequence[str]) -> Booking:
        changed = set(fields)
        copies = await self._copies(current)
        if not copies:
            raise NotFound(f"{current.id} is gone from every room", backend=BACKEND)
        organizer = next((c for c in copies if c.item.organizer_self), None)
        if organizer is not None:
            await self._update_organized(organizer, current, desired, changed)
        else:
            await self._update_foreign(copies, current, desired, changed)
        result = replace(current.with_content_of(desired), link=desired.link)
        return replace(result, status=Status.CANCELLED) if current.status is Status.CANCELLED else result

    async def _update_organized(self, organizer: Copy, current: Booking, desired: Booking, changed: set[str]) -> None:
        item, version = organizer.item, self._version(current, organizer.item)
        state = self._state(self._room(organizer.room))
        if organizer.room not in desired.rooms:  # the organizing room leaves: the next room takes the event over
            target = self._room(sorted(desired.rooms)[0])
            request = state.events.move(calendarId=state.calendar, eventId=item.id, destination=target.calendar)
            moved = await state.write("events.move", request, if_match=version, item_id=item.id)
            state.forget(item.id)
            assert moved is not None
            state, item = self._state(target), moved
            version = moved.etag
            self._state(target).remember(moved)
            changed |= {"rooms", "organizer"}  # rewrite attendees, link and people on the new organizer's copy
        body = mapping.content(desired, changed)
        ours = set(self.room_of_calendar)
        if changed & (PEOPLE_FIELDS | {"rooms"}):
            others = [self._room(k).calendar for k in sorted(desired.rooms) if self._room(k).calendar != state.calendar]
            preserved = [a for a in item.attendees if a.resource and a.email not in ours and a.email != state.calendar]
            body["attendees"] = mapping.attendees_for(desired, self.policy, others, preserved)
        private: dict[str, Any] = dict(self._link(desired.link))
        if changed & PEOPLE_FIELDS:
            private.update(mapping.people_properties(desired, self.people_key, item.private))
        if private:
            body["extendedProperties"] = {"private": private}
        request = state.events.patch(
            calendarId=state.calendar, eventId=item.id, body=body, sendUpdates=self._send_updates
        )
        patched = await state.write("events.patch", request, if_match=version, item_id=item.id)
        if "recurrence" in changed and desired.recurrence is not None and desired.recurrence.overrides and patched:
            await self._apply_overrides(state, patched, desired)

    async def _update_foreign(self, copies: list[Copy], current: Booking, desired: Booking, changed: set[str]) -> None:
        organizer = current.organizer.email if current.organizer else "someone else"
        added = desired.rooms - current.rooms
        if added and "rooms" in changed:
            raise BookingRefused(
                f"rooms {', '.join(sorted(added))} cannot be added to a meeting organised in Google Calendar by "
                f"{organizer}; the organizer must invite them",
                backend=BACKEND,
            )
        content = changed & (CONTENT_FIELDS | PEOPLE_FIELDS)
        live = [c for c in copies if c.item.live and c.room not in current.rooms - desired.rooms]
        if content - PEOPLE_FIELDS and live and live[0].item.guests_can_modify and not content & PEOPLE_FIELDS:
            # the organizer lets guests modify the meeting: the room's change is the meeting's change
            copy, body = live[0], mapping.content(desired, changed)
            body["extendedProperties"] = {"private": self._link(desired.link)} if desired.link else None
            body = {k: v for k, v in body.items() if v is not None}
            state = self._state(self._room(copy.room))
            request = state.events.patch(calendarId=state.calendar, eventId=copy.item.id, body=body, sendUpdates="none")
            await state.write("events.patch", request, if_match=self._version(current, copy.item), item_id=copy.item.id)
            content = set()
        if content:
            raise BookingRefused(
                f"{', '.join(sorted(content))} of a meeting organised in Google Calendar by {organizer} can only be "
                "changed by its organizer (forbiddenForNonOrganizer)",
                code="forbiddenForNonOrganizer",
                backend=BACKEND,
            )
        removed = current.rooms - desired.rooms
        for copy in copies:
            if copy.room in removed and copy.item.live:
                await self._answer(copy, current, "declined", "Removed from this meeting in Planon.")
        link = self._link(desired.link)
        for copy in copies:
            if copy.room in removed or not copy.item.live or not link:
                continue
            await self._patch_private(copy, current, link)

    async def _patch_private(self, copy: Copy, booking: Booking, private: dict[str, str]) -> None:
        state = self._state(self._room(copy.room))
        body = {"extendedProperties": {"private": private}}
        request = state.events.patch(calendarId=state.calendar, eventId=copy.item.id, body=body, sendUpdates="none")
        await state.write("events.patch", request, if_match=self._version(booking, copy.item), item_id=copy.item.id)

    async def _answer(self, copy: Copy, booking: Booking, answer: str, comment: str) -> None:
        """The room's answer on its own copy: only its attendee entry, with Planon's reason as the comment."""
        state = self._state(self._room(copy.room))
        attendee: dict[str, str] = {"email": state.calendar, "responseStatus": answer}
        if comment:
            attendee["comment"] = comment
        body = {"attendeesOmitted": True, "attendees": [attendee]}
        request = state.events.patch(calendarId=state.calendar, eventId=copy.item.id, body=body)
        try:
            await state.write("events.patch", request, if_match=self._version(booking, copy.item), item_id=copy.item.id)
        except NotFound:
            state.forget(copy.item.id)

    async def cancel(self, current: Booking, reason: str) -> None:
        copies = [c for c in await self._copies(current) if not c.item.cancelled]
        organizer = next((c for c in copies if c.item.organizer_self), None)
        if organizer is not None:
            state = self._state(self._room(organizer.room))
            request = state.events.delete(
                calendarId=state.calendar, eventId=organizer.item.id, sendUpdates=self._send_updates
            )
            with contextlib.suppress(NotFound):  # already deleted (404, or 410 deleted)
                await state.write(
                    "events.delete", request, if_match=self._version(current, organizer.item), item_id=organizer.item.id
                )
            state.forget(organizer.item.id)
            return
        for copy in copies:
            if copy.item.live:
                await self._answer(copy, current, "declined", reason)

    async def respond(self, current: Booking, response: Response, comment: str) -> None:
        copies = [c for c in await self._copies(current) if not c.item.organizer_self and not c.item.cancelled]
        if not copies:
            raise NotFound(f"{current.id}: no room holds a meeting request to answer", backend=BACKEND)
        for copy in copies:
            await self._answer(copy, current, ANSWERS[response], comment)

    async def relink(self, current: Booking, link: Link) -> None:
        copies = [c for c in await self._copies(current) if not c.item.cancelled]
        if not copies:
            raise NotFound(f"{current.id} is gone from every room", backend=BACKEND)
        for copy in copies:
            await self._patch_private(copy, current, self._link(link))

    async def aclose(self) -> None:
        return None  # the client owns the threads; it is closed with the Connection
