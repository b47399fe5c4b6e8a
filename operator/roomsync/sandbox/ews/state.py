"""What the EWS face adds to the shared Exchange: accounts and their rights, accepted authentication schemes, room
lists, sync states, traffic counters and faults. The mailboxes themselves belong to the Graph sandbox's state."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from roomsync.sandbox.ews.accounts import Accounts
from roomsync.sandbox.ews.streaming import Streaming
from roomsync.sandbox.ews.syncstate import SyncStates
from roomsync.sandbox.ews.traffic import EwsTraffic

if TYPE_CHECKING:
    from roomsync.sandbox.graph.server import SandboxState

SCHEMES = ("NTLM", "Basic", "Bearer")


@dataclass(frozen=True)
class RoomList:
    """A room list (a distribution group of room mailboxes, ``New-DistributionGroup -RoomList``)."""

    address: str
    name: str
    members: tuple[str, ...]


@dataclass
class EwsState:
    accounts: Accounts = field(default_factory=Accounts)
    traffic: EwsTraffic = field(default_factory=EwsTraffic)
    sync: SyncStates = field(default_factory=SyncStates)
    schemes: set[str] = field(default_factory=lambda: set(SCHEMES))
    dns_domain: str = "corp.example"
    explicit_room_lists: list[RoomList] | None = None
    #: streaming subscriptions and their connections (its clock is the shared Exchange's, set by the sandbox)
    streaming: Streaming = field(default_factory=lambda: Streaming(lambda: datetime.now(UTC)))

    def room_lists(self, state: SandboxState) -> list[RoomList]:
        """The configured room lists, or one per building (one for all rooms when no building is set)."""
        if self.explicit_room_lists is not None:
            return self.explicit_room_lists
        by_building: dict[str, list[str]] = {}
        for box in sorted(state.mailboxes.values(), key=lambda b: b.address):
            if box.kind == "room":
                by_building.setdefault(box.building or "", []).append(box.address)
        result = []
        for building, members in sorted(by_building.items()):
            domain = members[0].split("@", 1)[1]
            slug = re.sub(r"[^a-z0-9]+", "-", building.casefold()).strip("-") or "all"
            result.append(RoomList(f"rooms-{slug}@{domain}", f"Rooms {building}".strip(), tuple(members)))
        return result
