"""What every Exchange face shares - Graph for Exchange Online, EWS for Exchange on-premise - so a room mailbox keeps
its RoomSync state when it moves from one to the other.

RoomSync's data on a room's item lives in two named extended properties in the PS_PUBLIC_STRINGS property set
(``{00020329-0000-0000-C000-000000000046}``, which EWS calls ``PublicStrings``): the link (``RoomSyncLink``) and, on
meetings RoomSync creates (organised by the room), the person they are for (``RoomSyncPeople``, compact JSON). Both
APIs read and write the very same properties; this module fixes their names and the people format.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Final

from roomsync.model import Booking, Person

PS_PUBLIC_STRINGS: Final = "{00020329-0000-0000-C000-000000000046}"
LINK_PROPERTY: Final = "RoomSyncLink"
PEOPLE_PROPERTY: Final = "RoomSyncPeople"


class Invitations(StrEnum):
    """Who hears about a booking written by the sync (``spec.invitations``; docs/exchange-online.md)."""

    NONE = "None"
    ORGANIZER_ONLY = "OrganizerOnly"
    ALL = "All"


def people_text(booking: Booking) -> str:
    """The people property: organizer e-mail and name, required and optional e-mails (the Graph connector's format)."""
    data = {
        "o": booking.organizer.email if booking.organizer else None,
        "n": booking.organizer.name if booking.organizer else "",
        "r": sorted(p.email for p in booking.required),
        "p": sorted(p.email for p in booking.optional),
    }
    return json.dumps(data, separators=(",", ":"))


def parse_people(text: str | None) -> tuple[Person | None, frozenset[Person], frozenset[Person]] | None:
    """(organizer, required, optional) from the people property; None when absent or unreadable."""
    if not text:
        return None
    try:
        data = json.loads(text)
        organizer = Person(data["o"], data.get("n") or "") if data.get("o") else None
        return (
            organizer,
            frozenset(Person(e) for e in data.get("r", [])),
            frozenset(Person(e) for e in data.get("p", [])),
        )
    except (ValueError, KeyError, TypeError):
        return None
