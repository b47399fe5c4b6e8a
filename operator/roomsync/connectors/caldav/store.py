"""The CalDAV BookingStore: the rooms of one RoomSync as calendar collections on a CalDAV server.

No scheduling (RFC 6638) is involved: the server delivers nothing and answers nothing. A meeting lives as one copy
(same UID) in each of its rooms' collections, and RoomSync writes each copy itself:

- create: the same resource is PUT into every room's collection with ``If-None-Match: *``. Its UID and resource
  name are derived from the RoomSync, the Planon peer id and the link's sequence number, so a retried create finds
  its own first copy (412) instead of making a second; a deliberate re-create after a deletion (a higher sequence)
  gets a new UID.
- update: each copy is edited (only the properties of changed fields) and PUT with ``If-Match: <etag read>``; a 412
  is :class:`PreconditionFailed` and nothing of that copy is written. A room that joins gets its copy first (with the
  link), then rooms that leave lose theirs: deleted when RoomSync made the meeting, declined (their PARTSTAT) when a
  person did. The booking's id (the UID) never changes.
- cancel: a meeting RoomSync made is deleted from every room (``If-Match``); a person's meeting is declined by each
  room, and stays visible to its organizer as declined.
- respond: the room's answer is its ATTENDEE's PARTSTAT in its own copy, with the comment.
- relink: only ``X-ROOMSYNC-LINK`` changes.

A series is one resource: an occurrence is cancelled by an EXDATE or moved by a RECURRENCE-ID override in that
resource, never by deleting anything (the caldav library's ``delete()`` on an expanded occurrence would delete the
whole series).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from roomsync.connectors.base import (
    BookingRefused,
    InvalidResponse,
    NotFound,
    PreconditionFailed,
    Response,
    StoreOptions,
    read_each_room,
)
from roomsync.connectors.caldav import render
from roomsync.connectors.caldav.calls import Entry, path_of
from roomsync.connectors.caldav.errors import BACKEND, CalendarAccessDenied, UidTaken
from roomsync.connectors.caldav.mapping import Copy, content, disagree, primary, to_booking
from roomsync.connectors.caldav.resource import Resource, ResourceError
from roomsync.connectors.caldav.state import CalendarState
from roomsync.model import (
    Booking,
    Handle,
    Link,
    RoomPair,
    Side,
    SkippedItem,
    Snapshot,
    Status,
    Window,
    changed_fields,
)

if TYPE_CHECKING:
    from roomsync.connectors.caldav.client import CalDAVClient

log = logging.getLogger(__name__)
UID_PREFIX = "roomsync-"
_UID_NAMESPACE = uuid.UUID("0c1f2d7e-52c3-4d7b-9c0e-6f3a8b2e41d5")
PARTSTAT = {Response.ACCEPT: "ACCEPTED", Response.DECLINE: "DECLINED", Response.TENTATIVE: "TENTATIVE"}
REMOVED = "Removed from this meeting in Planon."


def derived_uid(roomsync: str, peer_id: str, seq: int) -> str:
    """The UID (and resource name) of a meeting RoomSync creates: the same for every retry of one create, new for a
    deliberate re-create (a higher link sequence)."""
    return UID_PREFIX + str(uuid.uuid5(_UID_NAMESPACE, f"{roomsync}\x00{peer_id}\x00{seq}"))


def made_by_roomsync(uid: str) -> bool:
    return uid.startswith(UID_PREFIX)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class CalDAVStore:
    side = Side.CALENDAR
    backend = BACKEND

    def __init__(self, client: CalDAVClient, rooms: Sequence[RoomPair], options: StoreOptions) -> None:
        self.client = client
        self.capabilities = client.capabilities
        self.rooms = list(rooms)
        self.options = options
        self.by_key = {r.key: r for r in self.rooms}
        self.key_of = {r.calendar: r.key for r in self.rooms}
        self.ours = frozenset(self.key_of)
        self.planon_decides = options.leader is Side.PLANON
        self.window: Window | None = None  # the last window read: exceptions outside it are left as they are
        #: (href, ETag written over) -> ETag our write got: a later write to the same item in one cycle (an update,
        #: then the accept it decided) follows its own earlier write instead of failing on it
        self._successors: dict[tuple[str, str], str] = {}

    # -- helpers -------------------------------------------------------------------------------------------------------
    def _room(self, key: str) -> RoomPair:
        room = self.by_key.get(key)
        if room is None:
            raise BookingRefused(f"room {key!r} is not part of this RoomSync", backend=BACKEND)
        return room

    async def _state(self, room: RoomPair) -> CalendarState:
        return await self.client.state(room.calendar)

    def _attendees(self, keys: Collection[str]) -> list[render.RoomAttendee]:
        return [render.RoomAttendee(self._room(k).calendar, k) for k in sorted(keys)]

    def _edit(self, desired: Booking, changed: Collection[str], link: Link | None) -> render.Edit:
        return render.Edit(
            desired=desired,
            changed=frozenset(changed),
            rooms=self._attendees(desired.rooms),
            ours=self.ours,
            link=link,
            window=self.window,
            now=_now(),
        )

    # -- reading -------------------------------------------------------------------------------------------------------
    async def read(self, window: Window, *, full: bool, rooms: Collection[str] | None = None) -> Snapshot:
        self.window = window
        self._successors.clear()  # the bookings read now carry the versions their writes send

        async def refresh(room: RoomPair) -> CalendarState:
            state = await self._state(room)
            if rooms is None or room.key in rooms or state.span is None:
                await state.refresh(window, full=full)
            return state

        read, unreadable = await read_each_room(
            self.rooms, refresh, of=len(self.rooms), one_room=(CalendarAccessDenied,)
        )
        copies: dict[str, list[Copy]] = defaultdict(list)
        skipped: list[SkippedItem] = []
        for room, state in read:
            for resource in state.in_window(window):
                copies[resource.uid].append(Copy(room.key, room.calendar, resource))
            skipped += [SkippedItem(room.key, href, reason) for href, reason in state.skipped_in(window)]
        bookings = []
        rewrite: set[str] = set()
        for uid, group in copies.items():
            try:
                bookings.append(to_booking(group, self.key_of, planon_decides=self.planon_decides))
            except ValueError as exc:
                skipped += [SkippedItem(c.room, c.resource.href, f"cannot translate: {exc}") for c in group]
                continue
            if disagree(group, self.key_of, window):
                rewrite.add(uid)  # a write reached only some rooms: the engine rewrites the meeting in all of them
        return Snapshot(
            tuple(bookings),
            unreadable_rooms=frozenset(unreadable),
            skipped=tuple(skipped),
            full=full,
            needs_rewrite=frozenset(rewrite),
        )

    async def lookup(self, ids: Collection[str]) -> dict[str, Booking]:
        async def one(uid: str) -> Booking | None:
            groups = await asyncio.gather(*(self._find(room, uid) for room in self.rooms))
            found = [c for group in groups for c in group]
            return to_booking(found, self.key_of, planon_decides=self.planon_decides) if found else None

        bookings = await asyncio.gather(*(one(i) for i in ids))
        return {b.id: b for b in bookings if b is not None}

    async def _find(self, room: RoomPair, uid: str) -> list[Copy]:
        state = await self._state(room)
        found = []
        for entry in await state.calls.find_uid(uid):
            try:
                resource = state.parse(entry)
            except ResourceError as problem:
                # Not knowing is not "gone": the rooms linking to it are left alone this cycle.
                raise InvalidResponse(f"{uid} in {room.key}: {problem}", backend=BACKEND) from None
            if resource is not None and resource.uid == uid:  # text-match is a substring match
                state.remember(resource)
                found.append(Copy(room.key, room.calendar, resource))
        return found

    async def _copies(self, booking: Booking, also: Collection[str] = ()) -> list[Copy]:
        """The copies of the meeting in its rooms (and the rooms ``also`` names), with the ETag the booking was read
        at as the version a write sends (a declined copy is not in the handle: its cached version is used)."""
        handle = booking.handle or Handle({})
        rooms = set(handle.items) | booking.rooms | set(also)
        result = []
        for room in self.rooms:
            if room.key not in rooms:
                continue
            state = await self._state(room)
            cached = {r.href: r for r in state.by_uid(booking.id)}
            for href in handle.ids(room.key):
                if path_of(href) not in cached:
                    entry = await state.calls.get(href)
                    resource = state.parse(entry) if entry is not None else None
                    if resource is not None:
                        cached[resource.href] = resource
            for href, resource in sorted(cached.items()):
                version = handle.version(href) or resource.etag
                while version is not None and (href, version) in self._successors:
                    version = self._successors[(href, version)]
                if version is None:
                    entry = await state.calls.get(href)
                    version = entry.etag if entry is not None else None
                result.append(Copy(room.key, room.calendar, replace(resource, etag=version)))
        return result

    async def _write(self, copy: Copy, text: str) -> Resource:
        state = await self._state(self._room(copy.room))
        etag = await state.calls.put(copy.resource.href, text, etag=copy.resource.etag)
        if etag is not None and copy.resource.etag is not None:
            self._successors[(copy.resource.href, copy.resource.etag)] = etag
        return self._remember(state, copy.resource.href, etag, text)

    def _remember(self, state: CalendarState, href: str, etag: str | None, text: str) -> Resource:
        resource = state.parse(Entry(href, etag, text))
        assert resource is not None
        state.remember(resource)
        return resource

    async def _remove(self, copy: Copy, comment: str) -> None:
        """The room leaves the meeting: its copy is deleted (a meeting RoomSync made) or declined (a person's)."""
        if made_by_roomsync(copy.resource.uid):
            state = await self._state(self._room(copy.room))
            await state.calls.delete(copy.resource.href, copy.resource.etag)
            state.forget(copy.resource.href)
            return
        await self._answer(copy, "DECLINED", comment)

    async def _answer(self, copy: Copy, partstat: str, comment: str) -> Resource:
        attendee = render.RoomAttendee(copy.address, copy.room)
        return await self._write(copy, render.answer(copy.resource, attendee, partstat, comment, _now()))

    # -- writing -------------------------------------------------------------------------------------------------------
    async def create(self, booking: Booking) -> Booking:
        if not booking.rooms:
            raise BookingRefused("a booking needs at least one room", backend=BACKEND)
        rooms = [self._room(k) for k in sorted(booking.rooms)]
        peer = booking.link.peer_id if booking.link else booking.id
        uid = derived_uid(self.options.roomsync, peer, booking.link.seq if booking.link else 0)
        text = render.new_resource(
            booking, uid=uid, rooms=self._attendees(booking.rooms), link=booking.link, now=_now()
        )
        items: dict[str, tuple[str, ...]] = {}
        versions: dict[str, str] = {}
        for room in rooms:
            resource = await self._create_copy(room, uid, f"{uid}.ics", text)
            items[room.key] = (resource.href,)
            if resource.etag:
                versions[resource.href] = resource.etag
        return replace(
            booking,
            id=uid,
            ical_uid=uid,
            status=Status.CONFIRMED,
            awaiting_response=False,
            handle=Handle(items, versions),
        )

    async def _create_copy(self, room: RoomPair, uid: str, name: str, text: str) -> Resource:
        """PUT ``If-None-Match: *``; a copy already there with our UID is a retry's first attempt, and is taken."""
        state = await self._state(room)
        href = path_of(state.calls.member_url(name))
        try:
            etag = await state.calls.put(href, text, create=True)
            return self._remember(state, href, etag, text)
        except PreconditionFailed:
            entry = await state.calls.get(href)
            existing = state.parse(entry) if entry is not None else None
            if existing is None or existing.uid != uid:
                raise BookingRefused(f"{href} is taken by another event in {room.key}", backend=BACKEND) from None
        except UidTaken as taken:
            found = [r for r in (state.parse(e) for e in await state.calls.find_uid(uid)) if r and r.uid == uid]
            if not found:
                raise BookingRefused(str(taken), code="409", backend=BACKEND) from None
            existing = found[0]
        log.info("create of %s in %s found its own earlier copy %s: a retry, nothing duplicated", uid, room.key, href)
        state.remember(existing)
        return existing

    async def update(self, current: Booking, desired: Booking, fields: Sequence[str]) -> Booking:
        copies = await self._copies(current, also=desired.rooms)
        if not copies:
            raise NotFound(f"{current.id} is gone from every room", backend=BACKEND)
        wanted = [self._room(k) for k in sorted(desired.rooms)]
        by_room = {c.room: c for c in copies}
        main = primary(copies)
        written: dict[str, Resource] = {}
        for room in wanted:  # a room that joins gets its copy first, with the link
            if room.key not in by_room:
                everything = {"subject", "start", "organizer", "rooms"}
                text = render.rewrite(main.resource, self._edit(desired, everything | set(fields), desired.link))
                name = path_of(main.resource.href).rsplit("/", 1)[-1]
                written[room.key] = await self._create_copy(room, main.resource.uid, name, text)
        for room in wanted:
            copy = by_room.get(room.key)
            if copy is None:
                continue
            changed = set(changed_fields(content(copy, self.ours, current.rooms), desired, self.window))
            if {a.email for a in copy.resource.attendees if a.email in self.ours} != {r.calendar for r in wanted}:
                changed.add("rooms")
            if not changed and copy.live and copy.resource.link == desired.link:
                written[room.key] = copy.resource
                continue
            text = render.rewrite(copy.resource, self._edit(desired, changed, desired.link))
            if not copy.live:  # the room comes back to a meeting it had declined
                text = render.answer(
                    copy.resource.with_version(copy.resource.etag, text),
                    render.RoomAttendee(copy.address, copy.room),
                    "ACCEPTED",
                    "",
                    _now(),
                )
            written[room.key] = await self._write(copy, text)
        for copy in copies:
            if copy.room not in desired.rooms and copy.live:
                await self._remove(copy, REMOVED)
        result = replace(
            current.with_content_of(desired),
            link=desired.link,
            handle=Handle(
                {k: (r.href,) for k, r in written.items()}, {r.href: r.etag for r in written.values() if r.etag}
            ),
        )
        return replace(result, status=Status.CANCELLED) if current.status is Status.CANCELLED else result

    async def cancel(self, current: Booking, reason: str) -> None:
        for copy in await self._copies(current):
            if copy.live:
                await self._remove(copy, reason)

    async def respond(self, current: Booking, response: Response, comment: str) -> None:
        copies = [c for c in await self._copies(current) if c.live]
        if not copies:
            raise NotFound(f"{current.id}: no room holds this meeting any more", backend=BACKEND)
        for copy in copies:
            await self._answer(copy, PARTSTAT[response], comment)

    async def relink(self, current: Booking, link: Link) -> None:
        copies = await self._copies(current)
        if not copies:
            raise NotFound(f"{current.id} is gone from every room", backend=BACKEND)
        for copy in copies:
            if copy.resource.link != link:
                await self._write(copy, render.relink(copy.resource, link))

    async def aclose(self) -> None:
        return None  # the client owns the connection; it is closed with the Connection
