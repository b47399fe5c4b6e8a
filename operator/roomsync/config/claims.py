"""One owner per room: a room two RoomSyncs claim is kept by the older one and refused to the other.

Two RoomSyncs syncing one room would run two workers under two policies (even two leaders) against the same
bookings. A room is claimed twice when two RoomSyncs name the same Planon reservation unit of the same Planon (its
URL, whichever Connection reaches it), or the same room calendar through the same calendar backend, in any
namespace (ClusterConnections make sharing a backend across namespaces normal). The decision is deterministic and
needs no coordination: the RoomSync created first keeps the room (``metadata.creationTimestamp``, then name, then
namespace); the other gets the room refused with a message naming the first claimant. ``roomsync validate`` applies
the same rule within the files it is given (files carry no creation time, so the name decides there), the operator
across every RoomSync it serves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from roomsync.config.roomsync import RoomSyncConfig
from roomsync.connectors.registry import UnsupportedBackend, backend_of

#: ("planon", Planon instance, unit code) or ("calendar", backend, address in lower case).
ClaimKey = tuple[str, str, str]
#: (kind, namespace or "" for a ClusterConnection, name) -> the Connection's spec, or None when it is not known.
ConnectionLookup = Callable[[str, str, str], Mapping[str, object] | None]


@dataclass(frozen=True)
class Conflict:
    """A room of ``loser`` that ``owner`` claimed first."""

    room: str  # the loser's Planon code for the room (its key in spec.rooms)
    what: str  # "Planon unit MR-1" / "calendar mr-1@contoso.com"
    owner: str  # namespace/name of the RoomSync that keeps the room
    owner_created: str

    @property
    def message(self) -> str:
        since = f" (created {self.owner_created})" if self.owner_created else ""
        return (
            f"room {self.room}: {self.what} is already synced by RoomSync {self.owner}{since}; a room has one owner: "
            "remove it from one of the two RoomSyncs"
        )


def instance(spec: Mapping[str, object] | None, fallback: str) -> tuple[str, str]:
    """A Connection's (backend, instance): the backend key, and for Planon its normalised URL.

    An unknown Connection (not created yet) gets a placeholder that collides with nothing but itself.
    """
    if spec is None:
        return "?", fallback
    try:
        backend = backend_of(spec)
    except UnsupportedBackend:
        return "?", fallback
    settings = spec.get(backend)
    url = settings.get("url") if isinstance(settings, Mapping) else None
    if backend == "planon" and isinstance(url, str):
        parts = urlsplit(url)
        return backend, f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"
    return backend, ""


def claims(config: RoomSyncConfig, lookup: ConnectionLookup) -> dict[ClaimKey, tuple[str, str]]:
    """Every room key this RoomSync claims -> (its Planon code, a description of the room)."""
    result: dict[ClaimKey, tuple[str, str]] = {}
    planon_ns = "" if config.planon_connection_kind == "ClusterConnection" else config.namespace
    calendar_ns = "" if config.calendar_connection_kind == "ClusterConnection" else config.namespace
    planon_ref = f"{config.planon_connection_kind}/{planon_ns}/{config.planon_connection}"
    calendar_ref = f"{config.calendar_connection_kind}/{calendar_ns}/{config.calendar_connection}"
    _, planon = instance(lookup(config.planon_connection_kind, planon_ns, config.planon_connection), planon_ref)
    backend, _ = instance(lookup(config.calendar_connection_kind, calendar_ns, config.calendar_connection), "")
    for room in config.rooms:
        result[("planon", planon, room.planon)] = (room.planon, f"Planon unit {room.planon}")
        calendar_backend = backend if backend != "?" else f"?{calendar_ref}"
        result[("calendar", calendar_backend, room.calendar.lower())] = (room.planon, f"calendar {room.calendar}")
    return result


def seniority(config: RoomSyncConfig) -> tuple[str, str, str]:
    """Older first: creation time (files have none, so they tie), then name, then namespace."""
    return (config.created, config.name, config.namespace)


def conflicts(configs: Iterable[RoomSyncConfig], lookup: ConnectionLookup) -> dict[str, list[Conflict]]:
    """For each RoomSync (``namespace/name``) that lost a room, which rooms and to whom; winners are absent."""
    owners: dict[ClaimKey, RoomSyncConfig] = {}
    lost: dict[str, list[Conflict]] = {}
    for config in sorted(configs, key=seniority):
        claimed = claims(config, lookup)
        by_room: dict[str, Conflict] = {}  # one conflict per room, even when both its sides are claimed
        for key, (room, what) in claimed.items():
            if key in owners and owners[key].key != config.key and room not in by_room:
                by_room[room] = Conflict(room, what, owners[key].key, owners[key].created)
        found = list(by_room.values())
        refused = set(by_room)
        for key, (room, _) in claimed.items():
            if room not in refused:  # a refused room claims nothing: the next claimant meets its real owner
                owners.setdefault(key, config)
        if found:
            lost[config.key] = found
    return lost
