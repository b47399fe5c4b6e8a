"""Change notifications: the part of the port a calendar backend implements when it can tell RoomSync that a room
calendar changed (Graph subscriptions, Google watch channels), and the shape of what vendors send.

A notification is only ever a *poke*: it names a room that may have changed, and RoomSync then reads that room
incrementally (delta link, sync token) exactly as a poll would. Nothing in a notification's body is taken as data,
so a lost, late, repeated or reordered notification can cost time but never a change (the poll and the full resync
still read everything). A backend that has no push (CalDAV) simply has no ``push`` on its client.

Reading what arrived (:func:`read_notices` of a backend package) is backend knowledge and lives with the backend;
checking the shared secret, routing and waking are the receiver's (:mod:`roomsync.sync.notify`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = ["Channel", "Inbound", "Notice", "NoticeKind", "PushChannels", "Received", "UnreadableNotification"]


@dataclass(frozen=True)
class Channel:
    """One subscription (Graph) or watch channel (Google) on one room calendar, as the backend answered it."""

    room: str  # the room calendar's address, as a RoomSync's ``calendar`` names it
    id: str
    expires: datetime
    address: str  # the URL the backend delivers to
    resource_id: str = ""  # Google's resourceId: a channel is stopped by (id, resourceId)


@runtime_checkable
class PushChannels(Protocol):
    """Subscribe a room calendar's changes to an HTTPS address, keep it alive, and stop it."""

    #: The longest lifetime the backend grants; the keeper renews well before the end.
    max_lifetime: timedelta
    #: True: ``renew`` extends a channel in place (Graph PATCH). False: a new channel replaces it (Google).
    renews_in_place: bool
    #: True: :meth:`listed` can find channels again after a restart (Graph). False: keep their ids (Google).
    listable: bool

    async def subscribe(self, room: str, address: str, secret: str, expires: datetime) -> Channel:
        """A new channel delivering ``room``'s created/updated/deleted events to ``address`` with ``secret``
        (Graph clientState, Google channel token). Raises ``BackendError`` (the backend refused or is down)."""
        ...

    async def renew(self, channel: Channel, expires: datetime) -> Channel:
        """Extend ``channel`` (``renews_in_place`` only); raises ``NotFound`` when the backend removed it."""
        ...

    async def stop(self, channel: Channel) -> None:
        """Stop delivering; a channel that is already gone is not an error."""
        ...

    async def listed(self, address_prefix: str) -> list[Channel]:
        """Every live channel of these credentials whose address starts with ``address_prefix`` (``listable``)."""
        ...


class NoticeKind(StrEnum):
    """What a notification asks of RoomSync; never what changed."""

    CHANGED = "Changed"  # read the room (incrementally)
    MISSED = "Missed"  # the backend dropped notifications: read the room
    RESUBSCRIBE = "Resubscribe"  # the channel was removed or needs re-authorising: renew or replace it, read the room
    CONFIRMED = "Confirmed"  # the channel works (Google's ``sync`` message): nothing to read


@dataclass(frozen=True)
class Inbound:
    """An HTTP request as the receiver got it: header names in lower case."""

    method: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Notice:
    """One notification, reduced to what RoomSync acts on: the secret it presented, the channel it came through,
    what to do, and (Planon) which reservation units it names."""

    secret: str
    kind: NoticeKind = NoticeKind.CHANGED
    channel: str = ""
    rooms: tuple[str, ...] = ()
    resource: str = ""  # Google's resource id: with the channel id, enough to stop a channel nobody wants


@dataclass(frozen=True)
class Received:
    """What one request carried: a handshake to echo (Graph's ``validationToken``) or notices."""

    notices: tuple[Notice, ...] = ()
    handshake: str | None = None


class UnreadableNotification(ValueError):
    """The request is not a notification of this backend (bad JSON, missing fields): answered 400, never acted on."""
