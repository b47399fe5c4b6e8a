"""The health view: what a facility admin needs to see of every RoomSync and Connection, read from the objects.

Built from RoomSync and Connection objects (their spec and the status the operator wrote), so the web page served by
the operator (from the objects it watches) and ``roomsync status`` (from the API server) show the same thing: every
RoomSync with its mode, readiness, last sync, rooms (bookings, pending actions, last error), conflicts, the bookings
that failed or were refused with their reasons, a dry run's plan, and the health of each Connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CONNECTION_CONDITIONS = ("Reachable", "Authenticated", "RoomsVisible")


def _condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), {})


@dataclass(frozen=True)
class RoomRow:
    planon: str
    calendar: str
    bookings: int | None = None  # None: not in the status (only the first rooms are, problems first)
    pending: int = 0
    error: str = ""


@dataclass(frozen=True)
class RoomSyncView:
    namespace: str
    name: str
    mode: str
    ready: str  # True, False, Unknown: the last cycle ran
    reason: str
    message: str  # Ready's message, or Synced's when the cycle ran but the sides do not agree
    synced: str  # both sides agree
    synced_reason: str
    last_sync: str
    planon: str  # the Planon connection reference as written (ClusterConnection/name or name)
    calendar: str
    conflicts: int
    refused: int
    pending: int
    rooms: tuple[RoomRow, ...] = ()
    failures: tuple[Mapping[str, Any], ...] = ()
    planned: tuple[Mapping[str, Any], ...] = ()
    planned_total: int = 0

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ConnectionView:
    kind: str
    namespace: str  # "" for a ClusterConnection
    name: str
    backend: str
    ready: str
    reason: str
    message: str
    conditions: Mapping[str, str] = field(default_factory=dict)  # Reachable/Authenticated/RoomsVisible -> status
    rooms_visible: int | None = None
    last_check: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def _ref(side: Mapping[str, Any]) -> str:
    kind = side.get("connectionKind") or "Connection"
    name = str(side.get("connectionRef") or "")
    return name if kind == "Connection" else f"{kind}/{name}"


def roomsync_view(body: Mapping[str, Any]) -> RoomSyncView:
    meta, spec, status = body.get("metadata") or {}, body.get("spec") or {}, body.get("status") or {}
    ready, synced = _condition(status, "Ready"), _condition(status, "Synced")
    in_status = {r.get("planon"): r for r in status.get("rooms") or []}
    rows = []
    for room in spec.get("rooms") or []:
        seen = in_status.get(room.get("planon"))
        rows.append(
            RoomRow(
                str(room.get("planon")),
                str(room.get("calendar")),
                None if seen is None else int(seen.get("bookings") or 0),
                0 if seen is None else int(seen.get("pending") or 0),
                "" if seen is None else str(seen.get("lastError") or ""),
            )
        )
    counters = status.get("counters") or {}
    mode = status.get("mode") or ("Suspended" if spec.get("suspend") else "DryRun" if spec.get("dryRun") else "Sync")
    return RoomSyncView(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        mode=str(mode),
        ready=str(ready.get("status") or "Unknown"),
        reason=str(ready.get("reason") or "NotYetSynced"),
        message=str(
            (synced if ready.get("status") == "True" and synced.get("status") == "False" else ready).get("message")
            or "the operator has not reported on this RoomSync yet"
        ),
        synced=str(synced.get("status") or "Unknown"),
        synced_reason=str(synced.get("reason") or "NotYetSynced"),
        last_sync=str(status.get("lastSyncTime") or ""),
        planon=_ref(spec.get("planon") or {}),
        calendar=_ref(spec.get("calendar") or {}),
        conflicts=int(counters.get("conflicts") or 0),
        refused=int(counters.get("refused") or 0),
        pending=sum(r.pending for r in rows),
        rooms=tuple(sorted(rows, key=lambda r: (not r.error, r.pending == 0, r.planon))),
        failures=tuple(status.get("failures") or ()),
        planned=tuple(status.get("plannedActions") or ()),
        planned_total=int((status.get("lastCycle") or {}).get("planned") or 0),
    )


def connection_view(kind: str, body: Mapping[str, Any]) -> ConnectionView:
    meta, spec, status = body.get("metadata") or {}, body.get("spec") or {}, body.get("status") or {}
    ready = _condition(status, "Ready")
    backend = status.get("backend") or next((k for k in spec if k != "allowedNamespaces"), "")
    return ConnectionView(
        kind=kind,
        namespace=str(meta.get("namespace") or "") if kind == "Connection" else "",
        name=str(meta.get("name") or ""),
        backend=str(backend),
        ready=str(ready.get("status") or "Unknown"),
        reason=str(ready.get("reason") or "NotYetChecked"),
        message=str(ready.get("message") or "the operator has not checked this connection yet"),
        conditions={t: str(_condition(status, t).get("status") or "Unknown") for t in CONNECTION_CONDITIONS},
        rooms_visible=status.get("roomsVisible"),
        last_check=str(status.get("lastCheckTime") or ""),
    )


def roomsync_views(bodies: Iterable[Mapping[str, Any]]) -> list[RoomSyncView]:
    """Problems first, then by namespace and name."""
    views = [roomsync_view(b) for b in bodies]
    return sorted(views, key=lambda v: (v.ready == "True", v.synced == "True", v.namespace, v.name))


def connection_views(bodies: Iterable[tuple[str, Mapping[str, Any]]]) -> list[ConnectionView]:
    views = [connection_view(kind, b) for kind, b in bodies]
    return sorted(views, key=lambda v: (v.ready == "True", v.kind, v.namespace, v.name))
