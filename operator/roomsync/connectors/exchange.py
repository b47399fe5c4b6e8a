"""What every Exchange face shares - Graph for Exchange Online, EWS for Exchange on-premise - so a room mailbox keeps
its RoomSync state when it moves from one to the other.

RoomSync's data on a room's item lives in two named extended properties in the PS_PUBLIC_STRINGS property set
(``{00020329-0000-0000-C000-000000000046}``, which EWS calls ``PublicStrings``): the link (``RoomSyncLink``) and, on
meetings RoomSync creates (organised by the room), the person they are for (``RoomSyncPeople``, compact JSON). Both
APIs read and write the very same properties; this module fixes their names (the people format is the model's,
:mod:`roomsync.model.people_text`, like the link's).

Both faces also group a meeting's room copies the same way (by iCalendar UID; the organizer's copy or else the first
room's supplies the content; the newest link on any copy is the pair's), so that logic lives here once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Generic, Protocol, TypeVar

from roomsync.model import Link, Person

PS_PUBLIC_STRINGS: Final = "{00020329-0000-0000-C000-000000000046}"
LINK_PROPERTY: Final = "RoomSyncLink"
PEOPLE_PROPERTY: Final = "RoomSyncPeople"


@dataclass(frozen=True, slots=True)
class Attendee:
    """An attendee as either face reports it (the address case-folded)."""

    email: str
    name: str
    type: str  # required | optional | resource
    response: str


class RoomItem(Protocol):
    """What grouping a meeting's room copies needs of an item, whichever face read it."""

    @property
    def is_organizer(self) -> bool: ...

    @property
    def link_text(self) -> str | None: ...


ItemT = TypeVar("ItemT", bound=RoomItem)


@dataclass(frozen=True)
class Copy(Generic[ItemT]):
    """One room's item of a meeting: a single item or a series master."""

    room: str
    mailbox: str
    item: ItemT


def person(email: str, name: str = "") -> Person | None:
    """An address Exchange accepted but the model refuses (no domain, ...) is nobody, not a failed read."""
    try:
        return Person(email, name)
    except ValueError:
        return None


def attendee_people(attendees: Iterable[Attendee], kind: str, exclude: set[str]) -> frozenset[Person]:
    found = (person(a.email, a.name) for a in attendees if a.type == kind and a.email not in exclude)
    return frozenset(p for p in found if p is not None)


def primary(copies: list[Copy[ItemT]]) -> Copy[ItemT]:
    """The organizer's copy when one of our rooms organizes the meeting, else the first room's."""
    organizers = [c for c in copies if c.item.is_organizer]
    return sorted(organizers or copies, key=lambda c: c.room)[0]


def best_link(copies: Iterable[Copy[ItemT]]) -> Link | None:
    """Every copy may carry link data (we write it on each); the highest sequence number is the newest."""
    links = [link for link in (Link.decode(c.item.link_text) for c in copies) if link is not None]
    return max(links, key=lambda link: link.seq) if links else None
