"""What every Exchange face shares - Graph for Exchange Online, EWS for Exchange on-premise - so a room mailbox keeps
its RoomSync state when it moves from one to the other.

RoomSync's data on a room's item lives in two named extended properties in the PS_PUBLIC_STRINGS property set
(``{00020329-0000-0000-C000-000000000046}``, which EWS calls ``PublicStrings``): the link (``RoomSyncLink``) and, on
meetings RoomSync creates (organised by the room), the person they are for (``RoomSyncPeople``, compact JSON). Both
APIs read and write the very same properties; this module fixes their names (the people format is the model's,
:mod:`roomsync.model.people_text`, like the link's).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

PS_PUBLIC_STRINGS: Final = "{00020329-0000-0000-C000-000000000046}"
LINK_PROPERTY: Final = "RoomSyncLink"
PEOPLE_PROPERTY: Final = "RoomSyncPeople"


class Invitations(StrEnum):
    """Who hears about a booking written by the sync (``spec.invitations``; docs/exchange-online.md)."""

    NONE = "None"
    ORGANIZER_ONLY = "OrganizerOnly"
    ALL = "All"
