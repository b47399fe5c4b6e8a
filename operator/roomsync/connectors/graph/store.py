"""The Graph BookingStore: the rooms of one RoomSync in Exchange Online.

Writes, and why they look the way they do:

- create: ONE event in the first room's calendar (rooms sorted by key), organised by that room, with the other rooms
  invited as ``resource`` attendees - Exchange delivers a copy with the same iCalUId to each of them, so the read
  side groups it back into one booking. The POST carries a ``transactionId`` derived from the RoomSync, the Planon
  peer id and the link's sequence number: a retried POST returns the first event instead of a second one.
- update: a PATCH of only the changed fields on the organizer's item (Exchange forwards the change to the other
  rooms); for meetings organised in Outlook, each room's own copy is patched and rooms taken out decline. When the
  room that organises a meeting leaves it, the meeting is booked anew in the new room(s) (idempotent like a create,
  carrying the link) and only then is the old room's meeting cancelled; the update answers with the new meeting.
- cancel: the organizer's item is cancelled (``cancel`` with a comment when it has attendees, else deleted);
  rooms holding a copy of someone else's meeting decline it.
- respond: accept / decline / tentativelyAccept on each room's copy, with the comment, sending the response.

Preconditions: every write of an item RoomSync read sends the version it read (``If-Match``, the item's etag); a
stale one is :class:`~roomsync.connectors.base.PreconditionFailed`, nothing is written, and the item is read afresh
by the next read. A write that follows our own earlier write of the same update sends the version that write
answered with.

The link vouches for the synced state, so it is written only with, or after, the work it vouches for. A series
whose exceptions change takes several writes (the pattern, then one per occurrence): each intermediate write carries
at most a link for what is done by then (the pattern without the exceptions still to come), and the final link is
written last. A process killed in between leaves a calendar item whose link is true, which the next cycle completes.
(A kill between two occurrence writes of one update leaves occurrences no link vouches for: the next cycle sees them
as a calendar change - see docs/reliability.md.)
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING

from roomsync.connectors.base import (
    AuthenticationFailed,
    BackendError,
    BookingRefused,
    Invitations,
    NotFound,
    PreconditionFailed,
    Response,
    StoreOptions,
    read_each_room,
)
from roomsync.connectors.exchange import Copy
from roomsync.connectors.graph import mapping
from roomsync.connectors.graph import recurrence as rec
from roomsync.connectors.graph.cache import MailboxState
from roomsync.connectors.graph.errors import BACKEND, MailboxAccessDenied, TokenEndpointUnavailable
from roomsync.connectors.graph.items import Item, ItemError, Json, etag_of
from roomsync.connectors.graph.mapping import Body
from roomsync.model import (
    Booking,
    Handle,
    Link,
    Recurrence,
    RoomPair,
    Side,
    SkippedItem,
    Snapshot,
    Status,
    Window,
    fingerprint,
    to_iana,
    to_windows,
)
from roomsync.model.fingerprint import field_digests
from roomsync.model.people_text import encode_people

if TYPE_CHECKING:
    from roomsync.connectors.graph.client import GraphClient

PEOPLE_FIELDS = ("organizer", "required", "optional")
TIME_FIELDS = frozenset({"start", "end", "allDay"})
_TX_NAMESPACE = uuid.UUID("5b0c7d0e-4f55-4d2b-9a57-52f0a1d3c0de")


class SeriesWork(Enum):
    """What a series update needs besides the PATCH of its master."""

    INCREMENTAL = "occurrences only"  # the pattern stays: cancel and move just the occurrences that changed
    RESET = "pattern, then occurrences"  # the pattern is written (Exchange drops the exceptions), then all of them


def transaction_id(roomsync: str, peer_id: str, seq: int) -> str:
    """Deterministic per (RoomSync, Planon peer, link sequence): every retry of one create sends the same
    transactionId, while a deliberate re-create after a deletion (a higher sequence) is never taken for a retry
    (Graph's dedup window for a deleted event is [unconfirmed])."""
    return str(uuid.uuid5(_TX_NAMESPACE, f"{roomsync}\x00{peer_id}\x00{seq}"))


def invitations_policy(options: StoreOptions) -> Invitations:
    return Invitations(options.invitations)


def _pattern(booking: Booking) -> Body | None:
    """The Graph pattern (``patternedRecurrence`` JSON) of a booking's series."""
    if booking.recurrence is None:
        return None
    try:
        return rec.to_graph(booking.recurrence, booking.start, booking.timezone)
    except rec.RecurrenceNotExpressible as exc:
        raise BookingRefused(f"Exchange cannot express this recurrence: {exc}", backend=BACKEND) from exc


def _pattern_key(booking: Booking) -> tuple[object, ...] | None:
    """What Exchange stores of a series' pattern: two series with the same key are the same pattern (FREQ=WEEKLY
    from Planon and FREQ=WEEKLY;BYDAY=TU from Graph, when the first start is a Tuesday)."""
    graph = _pattern(booking)
    if graph is None:
        return None
    p, r = graph["pattern"], graph["range"]
    return (
        *(p.get(k) for k in ("type", "firstDayOfWeek", "index", "interval", "dayOfMonth", "month")),
        tuple(sorted(p.get("daysOfWeek") or ())),
        *(r.get(k) for k in ("type", "startDate", "endDate", "numberOfOccurrences")),
        _same_zone(r.get("recurrenceTimeZone") or booking.timezone),
    )


def _same_zone(name: str) -> str:
    """One spelling per set of equal rules (W. Europe Standard Time, read back as Europe/Berlin, is Amsterdam's)."""
    return to_iana(to_windows(name))


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
        #: the window of the last read: the engine fingerprints series exceptions clipped to it
        self.window: Window | None = None
        #: iCalUId -> (the items a booking was made of, the booking) at the last read. Items are immutable and
        #: replaced when they change, so the same items make the same booking: it is handed back as the same object,
        #: which spares translating it again and lets the engine keep its fingerprint (docs/performance.md).
        self._made: dict[str, tuple[tuple[Item, ...], Booking]] = {}

    # -- helpers -------------------------------------------------------------------------------------------------------
    def _state(self, room: RoomPair) -> MailboxState:
        return self.client.mailbox_state(room.calendar)

    def _room(self, key: str) -> RoomPair:
        room = self.by_key.get(key)
        if room is None:
            raise BookingRefused(f"room {key!r} is not part of this RoomSync", backend=BACKEND)
        return room

    @property
    def _ids(self) -> tuple[str, str]:
        return self.client.settings.link_property_id, self.client.settings.people_property_id

    async def _items(self, state: MailboxState, events: Sequence[Json]) -> list[Item]:
        try:
            return await state.read(events)
        except ItemError as exc:
            raise BackendError(f"unreadable event: {exc}", backend=BACKEND) from exc

    @staticmethod
    def _version(booking: Booking | None, item: Item) -> str | None:
        """The version of ``item`` as RoomSync read it (the booking's handle), else as last seen."""
        version = booking.handle.version(item.id) if booking is not None and booking.handle is not None else None
        return version or item.change_key

    # -- reading -------------------------------------------------------------------------------------------------------
    async def read(self, window: Window, *, full: bool, rooms: Collection[str] | None = None) -> Snapshot:
        self.window = window
        wanted = [r for r in self.rooms if full or rooms is None or r.key in rooms or not self._state(r).covers(window)]
        _, unreadable = await read_each_room(
            wanted,
            lambda r: self._state(r).refresh(window, full=full),
            of=len(self.rooms),
            fatal=(AuthenticationFailed, TokenEndpointUnavailable),
            one_room=(MailboxAccessDenied,),
        )
        copies: dict[str, list[Copy[Item]]] = defaultdict(list)
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
        made: dict[str, tuple[tuple[Item, ...], Booking]] = {}
        for uid, group in copies.items():
            items = tuple(c.item for c in group)
            known = self._made.get(uid)
            if known is not None and known[0] == items:  # identity first, element by element (equal items: same)
                booking = known[1]  # the same items as last cycle: the same booking (see __init__)
            else:
                try:
                    booking = mapping.to_booking(uid, group, self.room_of_mailbox)
                except (rec.RecurrenceNotExpressible, ValueError) as exc:
                    skipped += [SkippedItem(c.room, c.item.id, f"cannot translate: {exc}") for c in group]
                    continue
            made[uid] = (items, booking)
            bookings.append(booking)
        self._made = made
        return Snapshot(tuple(bookings), unreadable_rooms=frozenset(unreadable), skipped=tuple(skipped), full=full)

    async def lookup(self, ids: Collection[str]) -> dict[str, Booking]:
        found = await asyncio.gather(*(self._lookup_one(uid) for uid in ids))
        return {b.id: b for b in found if b is not None}

    async def _lookup_one(self, uid: str) -> Booking | None:
        async def in_room(room: RoomPair) -> list[Copy[Item]]:
            state = self._state(room)
            known = [
                i.id
                for i in (*state.masters.values(), *state.items.values())
                if i.ical_uid == uid and not i.series_master_id
            ]
            result = []
            try:
                events = [await state.calls.get(i, master=True) for i in known] or await state.calls.find_by_uid(uid)
                for item in await self._items(state, events):
                    if item.type == "seriesMaster" and not known:
                        (item,) = await self._items(state, [await state.calls.get(item.id, master=True)])
                    result.append(Copy(room.key, room.calendar, item))
            except NotFound:
                return []
            return result

        groups = await asyncio.gather(*(in_room(r) for r in self.rooms))
        copies = [c for group in groups for c in group]
        return mapping.to_booking(uid, copies, self.room_of_mailbox) if copies else None

    async def _copies(self, booking: Booking) -> list[Copy[Item]]:
        """The room items behind a booking, from the cache or (after a lookup) from Graph."""
        result = []
        items = booking.handle.items if booking.handle else {}
        for key, item_id in sorted((k, i) for k, ids in items.items() for i in ids):
            room = self._room(key)
            state = self._state(room)
            item = state.masters.get(item_id) or state.items.get(item_id)
            if item is None:
                try:
                    event = await state.calls.get(item_id, master=booking.recurrence is not None)
                except NotFound:
                    continue
                (item,) = await self._items(state, [event])
            result.append(Copy(key, room.calendar, item))
        return result

    # -- guarded writes ------------------------------------------------------------------------------------------------
    @staticmethod
    async def _guarded(state: MailboxState, item_id: str, write: Callable[[], Awaitable[None]]) -> None:
        """Run a write; a refused precondition marks the item to be read afresh (the engine re-plans it)."""
        try:
            await write()
        except PreconditionFailed:
            state.invalidate(item_id)
            raise

    async def _patch(
        self, state: MailboxState, item_id: str, patch: Body, etag: str | None, props: dict[str, str]
    ) -> str | None:
        """PATCH with ``If-Match: etag`` (None: no precondition); returns the new etag. ``props`` are the extended
        properties the patch carries, recorded in the cache."""
        if props:
            patch["singleValueExtendedProperties"] = mapping.extended(props)
        answered: list[Json] = []

        async def write() -> None:
            answered.append(await state.calls.patch(item_id, patch, etag))

        await self._guarded(state, item_id, write)
        link_id, people_id = self._ids
        new_etag = etag_of(answered[0])
        state.set_props(item_id, props.get(link_id, False), props.get(people_id, False), change_key=new_etag)
        return str(new_etag) if new_etag else None

    def _props(self, booking: Booking, link: Link | None, *, people: bool) -> dict[str, str]:
        link_id, people_id = self._ids
        props = {}
        if link is not None:
            props[link_id] = link.encode()
        if people:
            props[people_id] = encode_people(booking)
        return props

    # -- create --------------------------------------------------------------------------------------------------------
    async def create(self, booking: Booking) -> Booking:
        if not booking.rooms:
            raise BookingRefused("a booking needs at least one room", backend=BACKEND)
        rooms = [self._room(k) for k in sorted(booking.rooms)]
        target, others = rooms[0], [r.calendar for r in rooms[1:]]
        peer = booking.link.peer_id if booking.link else booking.id
        series = booking.recurrence
        exceptions = series is not None and bool(series.exdates or series.overrides)
        # With exceptions to follow, the POST's link vouches for the series without them (see the module docstring).
        posted_link = self._step_link(booking, series.with_exceptions()) if series and exceptions else booking.link
        props = self._props(booking, posted_link, people=True)
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
        (created,) = await self._items(state, [await state.calls.create(event)])
        created = created.with_props(props.get(self._ids[0]), props.get(self._ids[1]))
        state.remember(created)
        version = created.change_key
        if exceptions:
            await self._apply_exceptions(state, created.id, booking, None)
            final = self._props(booking, booking.link, people=False)
            if final:
                version = await self._patch(state, created.id, {}, None, final)
        return replace(
            booking,
            id=created.ical_uid,
            ical_uid=created.ical_uid,
            handle=Handle({target.key: (created.id,)}, {created.id: version} if version else {}),
            status=Status.CONFIRMED,
            awaiting_response=False,
            last_modified=created.last_modified,
        )

    def _step_link(self, booking: Booking, recurrence: Recurrence) -> Link | None:
        """A link for ``booking`` holding only ``recurrence``'s exceptions: what an intermediate write achieved."""
        if booking.link is None:
            return None
        done = replace(booking, recurrence=recurrence)
        return Link(
            booking.link.peer_id, fingerprint(done, self.window), booking.link.seq, field_digests(done, self.window)
        )

    # -- update --------------------------------------------------------------------------------------------------------
    async def update(self, current: Booking, desired: Booking, fields: Sequence[str]) -> Booking:
        changed = set(fields)
        copies = await self._copies(current)
        if not copies:
            raise NotFound(f"{current.id} is gone from every room", backend=BACKEND)
        organizer = next((c for c in copies if c.item.is_organizer), None)
        if organizer is not None and organizer.room not in desired.rooms:
            return await self._rebook(organizer, current, desired)
        if organizer is not None:
            await self._update_organized(organizer, current, desired, changed)
        else:
            await self._update_foreign(copies, current, desired, changed)
        result = replace(current.with_content_of(desired), link=desired.link)
        if current.status is Status.CANCELLED:
            result = replace(result, status=Status.CANCELLED)
        return result

    def _series_work(self, current: Booking, desired: Booking, changed: set[str]) -> tuple[bool, SeriesWork | None]:
        """(whether the PATCH writes the times and the pattern, what follows it for the occurrences)."""
        series = current.recurrence is not None or desired.recurrence is not None
        pattern = bool(changed & TIME_FIELDS) or (
            series
            and (
                _same_zone(current.timezone) != _same_zone(desired.timezone)
                or _pattern_key(current) != _pattern_key(desired)
            )
        )
        wanted = desired.recurrence
        if wanted is None:
            return pattern, None
        have = current.recurrence
        if self.window is not None:
            wanted = wanted.clipped(self.window.start, self.window.end)
            have = have.clipped(self.window.start, self.window.end) if have is not None else None
        if pattern or have is None:
            return True, SeriesWork.RESET if (wanted.exdates or wanted.overrides) else None
        if not have.exdates <= wanted.exdates:  # Graph cannot restore a cancelled occurrence but by a new pattern
            return True, SeriesWork.RESET
        if have.exdates != wanted.exdates or set(have.overrides) != set(wanted.overrides):
            return False, SeriesWork.INCREMENTAL
        return False, None

    def _content_patch(self, desired: Booking, changed: set[str], *, pattern: bool) -> tuple[Body, bool]:
        """The PATCH of the changed content, and whether it holds any. The pattern travels with the start, so its
        ``startDate`` stays the start's date (Graph checks that)."""
        patch: Body = {}
        content = False
        if "subject" in changed:
            patch["subject"] = desired.subject
            content = True
        if pattern:
            patch["start"], patch["end"] = mapping.when(desired.start, desired), mapping.when(desired.end, desired)
            patch["isAllDay"] = desired.all_day
            if desired.recurrence is not None:
                patch["recurrence"] = _pattern(desired)
            elif "recurrence" in changed:
                patch["recurrence"] = None  # the series becomes a single meeting
            content = True
        return patch, content

    async def _update_organized(
        self, organizer: Copy[Item], current: Booking, desired: Booking, changed: set[str]
    ) -> None:
        room = self._room(organizer.room)
        state = self._state(room)
        pattern, work = self._series_work(current, desired, changed)
        patch, content = self._content_patch(desired, changed, pattern=pattern)
        people = bool(changed & set(PEOPLE_FIELDS))
        if people or "rooms" in changed:
            others = [self._room(k).calendar for k in sorted(desired.rooms - {organizer.room})]
            ours = set(self.room_of_mailbox)
            preserved = [a for a in organizer.item.attendees if a.type == "resource" and a.email not in ours]
            patch["attendees"] = mapping.attendees_for(desired, self.policy, others, preserved)
            content = True
        people_props = self._props(desired, None, people=people)
        await self._write(state, organizer.item, current, desired, patch, content, people_props, work)

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
                await self._respond_copy(copy, current, "decline", "Removed from this meeting in Planon.")
        pattern, work = self._series_work(current, desired, changed)
        for copy in copies:
            if copy.room in removed or copy.item.is_cancelled:
                continue
            patch, content = self._content_patch(desired, changed, pattern=pattern)
            state = self._state(self._room(copy.room))
            await self._write(state, copy.item, current, desired, patch, content, {}, work)

    async def _write(
        self,
        state: MailboxState,
        item: Item,
        current: Booking,
        desired: Booking,
        patch: Body,
        content: bool,
        people_props: dict[str, str],
        work: SeriesWork | None,
    ) -> None:
        """Write one room item: content, then the occurrences, then the link (see the module docstring)."""
        etag = self._version(current, item)
        final = self._props(desired, desired.link, people=False)
        if work is None:  # one PATCH does it all, link included
            await self._patch(state, item.id, patch, etag, {**people_props, **final})
            return
        assert desired.recurrence is not None
        if content or people_props:
            done = desired.recurrence.with_exceptions(
                *(() if work is SeriesWork.RESET else (current.recurrence.exdates, current.recurrence.overrides))  # type: ignore[union-attr]
            )
            step = self._props(desired, self._step_link(desired, done), people=False)
            await self._patch(state, item.id, patch, etag, {**people_props, **step})
        else:
            await self._check_version(state, item.id, etag)
        await self._apply_exceptions(
            state, item.id, desired, current.recurrence if work is SeriesWork.INCREMENTAL else None
        )
        if final:  # only link data: a person's edit in between is still seen, as content the link does not describe
            await self._patch(state, item.id, {}, None, final)

    async def _check_version(self, state: MailboxState, item_id: str, etag: str | None) -> None:
        """The precondition of an update that writes only occurrences: the series is still as RoomSync read it."""
        if etag is None:
            return
        (now,) = await self._items(state, [await state.calls.get(item_id, master=True)])
        if now.change_key != etag:
            state.invalidate(item_id)
            raise PreconditionFailed(f"{item_id} changed since it was read", backend=BACKEND)

    async def _apply_exceptions(
        self, state: MailboxState, master_id: str, booking: Booking, base: Recurrence | None
    ) -> None:
        """Cancel and move occurrences so the series matches the booking's exdates and overrides. ``base``: the
        exceptions the series already holds (only the difference is written); None after a new pattern."""
        recurrence = booking.recurrence
        assert recurrence is not None
        if self.window is not None:
            recurrence = recurrence.clipped(self.window.start, self.window.end)
            base = base.clipped(self.window.start, self.window.end) if base is not None else None
        held = {o.original_start: o for o in base.overrides} if base is not None else {}
        cancel = sorted(recurrence.exdates - (base.exdates if base is not None else frozenset()))
        moves = [o for o in recurrence.overrides if held.get(o.original_start) != o]
        kept = {o.original_start for o in recurrence.overrides} | recurrence.exdates
        reverts = sorted(original for original in held if original not in kept)
        targets = [*cancel, *reverts, *(o.original_start for o in moves), *(o.start for o in moves)]
        if not targets:
            return
        lo = min(targets) - timedelta(days=1)
        hi = max([*targets, *(o.end for o in moves)]) + booking.duration + timedelta(days=1)
        instances = await self._items(state, await state.calls.instances(master_id, lo, hi))
        by_original: dict[datetime, Item] = {i.original_start: i for i in instances if i.original_start}
        for original in cancel:
            item = by_original.get(original)
            if item is not None:
                await self._occurrence_write(state, master_id, item, lambda i: state.calls.delete(i.id, i.change_key))
        for change in moves:
            item = by_original.get(change.original_start)
            subject = change.subject or booking.subject
            if item is None or (item.start, item.end, item.subject) == (change.start, change.end, subject):
                continue
            patch: Body = {"start": mapping.when(change.start, booking), "end": mapping.when(change.end, booking)}
            if change.subject:
                patch["subject"] = change.subject
            await self._occurrence_write(state, master_id, item, lambda i, p=patch: self._patch_occurrence(state, i, p))  # type: ignore[misc]
        for original in reverts:
            item = by_original.get(original)
            if item is None:
                continue
            patch = {
                "start": mapping.when(original, booking),
                "end": mapping.when(original + booking.duration, booking),
                "subject": booking.subject,
            }
            await self._occurrence_write(state, master_id, item, lambda i, p=patch: self._patch_occurrence(state, i, p))  # type: ignore[misc]

    @staticmethod
    async def _patch_occurrence(state: MailboxState, item: Item, patch: Body) -> None:
        await state.calls.patch(item.id, patch, item.change_key)

    async def _occurrence_write(
        self, state: MailboxState, master_id: str, item: Item, write: Callable[[Item], Awaitable[None]]
    ) -> None:
        """Write one occurrence with the version read moments ago. Where Exchange moves an occurrence's version when
        a sibling changes (Graph documents neither way), our own earlier write makes it stale: the occurrence is read
        again and written once more when it still shows what was read; a person's change to it is refused."""
        try:
            await write(item)
            return
        except PreconditionFailed:
            try:
                (fresh,) = await self._items(state, [await state.calls.get(item.id)])
            except NotFound:
                fresh = None
            if fresh is None or (fresh.start, fresh.end, fresh.subject) != (item.start, item.end, item.subject):
                state.invalidate(master_id)
                raise
        await self._guarded(state, master_id, lambda: write(fresh))

    async def _rebook(self, organizer: Copy[Item], current: Booking, desired: Booking) -> Booking:
        """The room that organises the meeting leaves it: book it in the new room(s), then cancel the old meeting.

        The create is idempotent (transactionId from the link's peer and sequence) and carries the link, so a process
        killed between the two steps leaves the new meeting, which the engine pairs (highest sequence) and whose
        superseded copy it cancels. People hear what ``spec.invitations`` says: one cancellation, one invitation.
        """
        booked = await self.create(desired)
        moved_to = ", ".join(sorted(desired.rooms))
        await self._cancel_organized(organizer, current, f"Moved to {moved_to} in Planon.")
        return replace(booked, status=Status.CONFIRMED)

    # -- cancel, respond, relink ---------------------------------------------------------------------------------------
    async def cancel(self, current: Booking, reason: str) -> None:
        copies = [c for c in await self._copies(current) if not c.item.is_cancelled]
        organizer = next((c for c in copies if c.item.is_organizer), None)
        if organizer is not None:
            await self._cancel_organized(organizer, current, reason)
            return
        for copy in copies:
            await self._respond_copy(copy, current, "decline", reason)

    async def _cancel_organized(self, organizer: Copy[Item], current: Booking, reason: str) -> None:
        state = self._state(self._room(organizer.room))
        item, etag = organizer.item, self._version(current, organizer.item)
        try:
            if item.attendees:  # tells the attendees and the other rooms
                await self._guarded(state, item.id, lambda: state.calls.cancel(item.id, reason, etag))
            else:
                await self._guarded(state, item.id, lambda: state.calls.delete(item.id, etag))
        except NotFound:
            pass
        state.forget(item.id)

    async def _respond_copy(self, copy: Copy[Item], current: Booking, action: str, comment: str) -> None:
        state = self._state(self._room(copy.room))
        etag = self._version(current, copy.item)
        try:
            await self._guarded(state, copy.item.id, lambda: state.calls.respond(copy.item.id, action, comment, etag))
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
            await self._respond_copy(copy, current, response.value, comment)

    async def relink(self, current: Booking, link: Link) -> None:
        props = self._props(current, link, people=False)
        copies = await self._copies(current)
        if not copies:
            raise NotFound(f"{current.id} is gone from every room", backend=BACKEND)
        for copy in copies:
            state = self._state(self._room(copy.room))
            await self._patch(state, copy.item.id, {}, self._version(current, copy.item), props)

    async def aclose(self) -> None:
        return None  # the client owns the connections; it is closed with the Connection
