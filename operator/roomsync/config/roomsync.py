"""A validated RoomSync manifest as the typed settings the runner uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from roomsync.config.durations import parse_duration
from roomsync.engine import Direction, OnRefused, Policy
from roomsync.model import RoomPair, Side


@dataclass(frozen=True)
class RoomSyncConfig:
    namespace: str
    name: str
    planon_connection: str
    calendar_connection: str
    rooms: tuple[RoomPair, ...]
    policy: Policy
    interval: timedelta
    full_resync_interval: timedelta
    dry_run: bool
    suspend: bool
    invitations: str
    generation: int = 0
    planon_connection_kind: str = "Connection"  # or ClusterConnection
    calendar_connection_kind: str = "Connection"
    created: str = ""  # metadata.creationTimestamp: the older of two RoomSyncs claiming a room keeps it

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_manifest(cls, body: Mapping[str, Any]) -> RoomSyncConfig:
        """Build from a manifest that :func:`roomsync.config.crds.apply_defaults` and validation have seen."""
        meta, spec = body.get("metadata", {}), body["spec"]
        window, safety = spec.get("window", {}), spec.get("safety", {})
        policy = Policy(
            leader=Side(spec.get("leader", "Planon")),
            direction=Direction(spec.get("direction", "Bidirectional")),
            window_past=parse_duration(window.get("past", "1d")),
            window_future=parse_duration(window.get("future", "180d")),
            max_delete_percent=int(safety.get("maxDeletePercent", 25)),
            allow_mass_delete=bool(safety.get("allowMassDelete", False)),
            on_refused=OnRefused(spec.get("onRefused", "Report")),
        )
        return cls(
            namespace=meta.get("namespace") or "default",
            name=meta["name"],
            planon_connection=spec["planon"]["connectionRef"],
            calendar_connection=spec["calendar"]["connectionRef"],
            rooms=tuple(RoomPair(r["planon"], r["calendar"]) for r in spec["rooms"]),
            policy=policy,
            interval=parse_duration(spec.get("interval", "60s")),
            full_resync_interval=parse_duration(spec.get("fullResyncInterval", "1h")),
            dry_run=bool(spec.get("dryRun", False)),
            suspend=bool(spec.get("suspend", False)),
            invitations=spec.get("invitations", "OrganizerOnly"),
            generation=int(meta.get("generation", 0) or 0),
            planon_connection_kind=spec["planon"].get("connectionKind", "Connection"),
            calendar_connection_kind=spec["calendar"].get("connectionKind", "Connection"),
            created=str(meta.get("creationTimestamp") or ""),
        )
