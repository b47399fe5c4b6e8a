"""A live RoomSync object checked with the same CRD validator ``roomsync validate`` uses, then typed.

The apiserver already enforces the schema and CEL rules, but not everything: the CRD documents checks it cannot
afford (unique room mailboxes across a 1000-room list), a CRD may be older than the operator, and a spec can predate
a tightened rule. A spec that fails here gets ``Ready=False, reason InvalidSpec`` and no cycle runs, so a broken
spec never writes anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from roomsync.config.crds import apply_defaults, validate_object
from roomsync.config.roomsync import RoomSyncConfig
from roomsync.k8s.settings import GROUP, VERSION

MAX_ERRORS_SHOWN = 5


class InvalidSpec(ValueError):
    """The RoomSync's spec does not satisfy the CRD; the message lists the first problems with their fields."""


def load_config(body: Mapping[str, Any]) -> RoomSyncConfig:
    meta = body.get("metadata") or {}
    manifest: dict[str, Any] = {
        "apiVersion": body.get("apiVersion") or f"{GROUP}/{VERSION}",
        "kind": "RoomSync",
        "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace")},
        "spec": plain(body.get("spec")),
    }
    errors = validate_object(manifest)
    if errors:
        shown = "; ".join(str(e) for e in errors[:MAX_ERRORS_SHOWN])
        more = f" (and {len(errors) - MAX_ERRORS_SHOWN} more)" if len(errors) > MAX_ERRORS_SHOWN else ""
        raise InvalidSpec(f"{shown}{more}")
    defaulted = apply_defaults(manifest)
    defaulted["metadata"]["generation"] = meta.get("generation", 0)
    defaulted["metadata"]["creationTimestamp"] = meta.get("creationTimestamp")
    return RoomSyncConfig.from_manifest(defaulted)


def plain(value: Any) -> Any:
    """kopf hands out read-only mapping views; the validator and defaulting want plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
