"""Offline validation of manifests against the CRDs: the examples pass, broken manifests fail with the right message.

Schema, defaults, list-type uniqueness and CEL rules are all evaluated here without a cluster, the same path
``roomsync validate`` takes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from roomsync.config.crds import apply_defaults, validate_object
from tests.k8s.support import EXAMPLES, load_documents

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


def _example(kind: str, name: str) -> dict[str, Any]:
    for path in EXAMPLE_FILES:
        for doc in load_documents(path):
            if doc["kind"] == kind and doc["metadata"]["name"] == name:
                return copy.deepcopy(doc)
    raise LookupError(f"no example {kind}/{name}")


def test_examples_exist_for_every_kind() -> None:
    kinds = {doc["kind"] for path in EXAMPLE_FILES for doc in load_documents(path)}
    assert kinds == {"Connection", "RoomSync", "Secret"}
    roomsyncs = [doc for path in EXAMPLE_FILES for doc in load_documents(path) if doc["kind"] == "RoomSync"]
    assert {doc["spec"]["leader"] for doc in roomsyncs} == {"Planon", "Calendar"}


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_every_example_validates(path: Any) -> None:
    docs = load_documents(path)
    assert docs
    for doc in docs:
        assert validate_object(doc) == [], f"{path.name}: {doc['kind']}/{doc['metadata']['name']}"


def test_defaults_are_applied_like_the_apiserver() -> None:
    minimal = {
        "apiVersion": "roomsync.io/v1alpha1",
        "kind": "RoomSync",
        "metadata": {"name": "minimal"},
        "spec": {
            "planon": {"connectionRef": "planon"},
            "calendar": {"connectionRef": "exchange-online"},
            "rooms": [{"planon": "MR-1", "calendar": "mr-1@contoso.com"}],
        },
    }
    spec = apply_defaults(minimal)["spec"]
    assert spec["leader"] == "Planon"
    assert spec["direction"] == "Bidirectional"
    assert (spec["interval"], spec["fullResyncInterval"]) == ("60s", "1h")
    assert spec["window"] == {"past": "1d", "future": "180d"}  # default {} then the nested defaults
    assert spec["safety"] == {"maxDeletePercent": 25, "allowMassDelete": False}
    assert (spec["dryRun"], spec["suspend"], spec["deletionPolicy"]) == (False, False, "Orphan")
    assert "spec" in minimal and "leader" not in minimal["spec"], "apply_defaults must not mutate its input"
    given = apply_defaults({**minimal, "spec": {**minimal["spec"], "window": {"past": "0s"}}})["spec"]["window"]
    assert given == {"past": "0s", "future": "180d"}


@pytest.mark.parametrize(
    ("interval", "full", "past", "future"),
    [
        ("10s", "1m", "0s", "1h"),
        ("24h", "7d", "730d", "730d"),
        ("1d", "168h", "0d", "17520h"),
        ("1m30s", "1h30m", "36h", "1.5h"),
        ("90s", "90s", "12h", "364d"),
    ],
)
def test_duration_bounds_accept_the_edges(interval: str, full: str, past: str, future: str) -> None:
    doc = _example("RoomSync", "hq-floor-3")
    doc["spec"].update(interval=interval, fullResyncInterval=full, window={"past": past, "future": future})
    assert validate_object(doc) == []


Mutation = Callable[[dict[str, Any]], Any]


def _set(path: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        if value is _DELETE:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return mutate


_DELETE = object()


def _add_room(planon: str, calendar: str) -> Mutation:
    return lambda doc: doc["spec"]["rooms"].append({"planon": planon, "calendar": calendar})


# (id, base example, mutation, expected path, expected message fragment)
INVALID: list[tuple[str, tuple[str, str], Mutation, str, str]] = [
    ("rooms-missing", ("RoomSync", "hq-floor-3"), _set("spec.rooms", _DELETE), "spec.rooms", "Required value"),
    ("rooms-empty", ("RoomSync", "hq-floor-3"), _set("spec.rooms", []), "spec.rooms", "at least 1 items"),
    (
        "too-many-rooms",
        ("RoomSync", "hq-floor-3"),
        _set("spec.rooms", [{"planon": f"R{i}", "calendar": f"r{i}@contoso.com"} for i in range(1001)]),
        "spec.rooms",
        "must have at most 1000 items",
    ),
    (
        "planon-ref-missing",
        ("RoomSync", "hq-floor-3"),
        _set("spec.planon", {}),
        "spec.planon.connectionRef",
        "Required",
    ),
    (
        "leader-enum",
        ("RoomSync", "hq-floor-3"),
        _set("spec.leader", "Exchange"),
        "spec.leader",
        'supported values: "Planon", "Calendar"',
    ),
    (
        "direction-enum",
        ("RoomSync", "hq-floor-3"),
        _set("spec.direction", "Both"),
        "spec.direction",
        "Unsupported value",
    ),
    (
        "deletion-policy-enum",
        ("RoomSync", "hq-floor-3"),
        _set("spec.deletionPolicy", "Delete"),
        "spec.deletionPolicy",
        "Unsupported value",
    ),
    ("unknown-spec-field", ("RoomSync", "hq-floor-3"), _set("spec.leeder", "Planon"), "spec.leeder", "unknown field"),
    (
        "unknown-room-field",
        ("RoomSync", "hq-floor-3"),
        _set("spec.rooms.0.mailbox", "x@y.nl"),
        "spec.rooms[0].mailbox",
        "unknown field",
    ),
    (
        "calendar-not-an-address",
        ("RoomSync", "hq-floor-3"),
        _set("spec.rooms.0.calendar", "mr-314"),
        "spec.rooms[0].calendar",
        "should match",
    ),
    (
        "connection-ref-not-a-name",
        ("RoomSync", "hq-floor-3"),
        _set("spec.calendar.connectionRef", "Exchange_Online"),
        "spec.calendar.connectionRef",
        "should match",
    ),
    (
        "duplicate-planon-code",
        ("RoomSync", "hq-floor-3"),
        _add_room("MR-3.14", "other@contoso.com"),
        "spec.rooms[3]",
        'Duplicate value: planon="MR-3.14"',
    ),
    (
        "duplicate-mailbox-any-case",
        ("RoomSync", "hq-floor-3"),
        _add_room("MR-9", "MR-314@Contoso.com"),
        "spec.rooms[3].calendar",
        "may appear only once",
    ),
    (
        "interval-too-short",
        ("RoomSync", "hq-floor-3"),
        _set("spec.interval", "1500ms"),
        "spec.interval",
        "interval must be between 2s and 24h",
    ),
    (
        "interval-too-long-in-days",
        ("RoomSync", "hq-floor-3"),
        _set("spec.interval", "2d"),
        "spec.interval",
        "interval must be between 2s and 24h",
    ),
    (
        "interval-not-a-duration",
        ("RoomSync", "hq-floor-3"),
        _set("spec.interval", "one minute"),
        "spec.interval",
        "should match",
    ),
    (
        "interval-mixed-days",
        ("RoomSync", "hq-floor-3"),
        _set("spec.interval", "1d2h"),
        "spec.interval",
        "whole number of days",
    ),
    (
        "full-resync-too-short",
        ("RoomSync", "hq-floor-3"),
        _set("spec.fullResyncInterval", "30s"),
        "spec.fullResyncInterval",
        "between 1m and 7d",
    ),
    (
        "full-resync-too-long",
        ("RoomSync", "hq-floor-3"),
        _set("spec.fullResyncInterval", "8d"),
        "spec.fullResyncInterval",
        "between 1m and 7d",
    ),
    (
        "full-resync-below-interval",
        ("RoomSync", "hq-floor-3"),
        lambda d: d["spec"].update(interval="2h", fullResyncInterval="90m"),
        "spec.fullResyncInterval",
        "must not be shorter than interval",
    ),
    (
        "window-future-too-short",
        ("RoomSync", "hq-floor-3"),
        _set("spec.window.future", "30m"),
        "spec.window.future",
        "between 1h and 730d",
    ),
    (
        "window-future-too-long",
        ("RoomSync", "hq-floor-3"),
        _set("spec.window.future", "731d"),
        "spec.window.future",
        "between 1h and 730d",
    ),
    (
        "window-past-negative",
        ("RoomSync", "hq-floor-3"),
        _set("spec.window.past", "-1h"),
        "spec.window.past",
        "should match",
    ),
    (
        "max-delete-percent-above-100",
        ("RoomSync", "hq-floor-3"),
        _set("spec.safety.maxDeletePercent", 101),
        "spec.safety.maxDeletePercent",
        "less than or equal to 100",
    ),
    (
        "dry-run-not-boolean",
        ("RoomSync", "hq-floor-3"),
        _set("spec.dryRun", "yes"),
        "spec.dryRun",
        "must be of type boolean",
    ),
    (
        "name-not-dns",
        ("RoomSync", "hq-floor-3"),
        _set("metadata.name", "HQ_Floor"),
        "metadata.name",
        "RFC 1123 subdomain",
    ),
    (
        "annotation-not-string",
        ("RoomSync", "hq-floor-3"),
        _set("metadata.annotations", {"roomsync.io/sync-requested-at": 5}),
        "metadata.annotations[roomsync.io/sync-requested-at]",
        "must be a string",
    ),
    (
        "wrong-version",
        ("RoomSync", "hq-floor-3"),
        _set("apiVersion", "roomsync.io/v1"),
        "apiVersion",
        "served as roomsync.io/v1alpha1",
    ),
    ("spec-missing", ("RoomSync", "hq-floor-3"), _set("spec", _DELETE), "spec", "Required value"),
    (
        "two-backends",
        ("Connection", "planon"),
        lambda d: d["spec"].update(graph=_example("Connection", "exchange-online")["spec"]["graph"]),
        "spec",
        "exactly one of planon, graph, ews, google, caldav",
    ),
    (
        "no-backend",
        ("Connection", "planon"),
        _set("spec", {}),
        "spec",
        "exactly one of planon, graph, ews, google, caldav",
    ),
    ("unknown-backend", ("Connection", "planon"), _set("spec.outlook", {}), "spec.outlook", "unknown field"),
    (
        "planon-two-auths",
        ("Connection", "planon"),
        _set(
            "spec.planon.auth.oidc",
            {
                "tokenUrl": "https://idp/token",
                "clientId": "c",
                "clientSecret": {"secretRef": {"name": "s", "key": "k"}},
            },
        ),
        "spec.planon.auth",
        "exactly one of accessKey or oidc",
    ),
    (
        "graph-no-auth",
        ("Connection", "exchange-online"),
        _set("spec.graph.auth", {}),
        "spec.graph.auth",
        "exactly one of clientSecret",
    ),
    (
        "secret-ref-without-key",
        ("Connection", "exchange-online"),
        _set("spec.graph.auth.clientSecret.secretRef.key", _DELETE),
        "spec.graph.auth.clientSecret.secretRef.key",
        "Required value",
    ),
    (
        "secret-data-not-base64",
        ("Secret", "planon-credentials"),
        _set("data", {"accessKey": "not base64!"}),
        "data.accessKey",
        "base64",
    ),
    (
        "secret-string-data-not-string",
        ("Secret", "graph-credentials"),
        _set("stringData.clientSecret", 12345),
        "stringData.clientSecret",
        "must be a string",
    ),
    (
        "secret-unknown-field",
        ("Secret", "graph-credentials"),
        _set("strinData", {"a": "b"}),
        "strinData",
        "unknown field",
    ),
]


@pytest.mark.parametrize(("base", "mutate", "path", "fragment"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_manifest_is_rejected_with_the_expected_message(
    base: tuple[str, str], mutate: Mutation, path: str, fragment: str
) -> None:
    doc = _example(*base)
    mutate(doc)
    errors = validate_object(doc)
    matching = [e for e in errors if e.path == path and fragment in e.message]
    assert matching, f"expected {path}: …{fragment}…, got {[str(e) for e in errors]}"


def test_at_least_twenty_invalid_cases() -> None:
    assert len(INVALID) >= 20
    assert len({c[0] for c in INVALID}) == len(INVALID)


@pytest.mark.parametrize(
    ("obj", "path", "fragment"),
    [
        ([1, 2], "", "must be a mapping"),
        (None, "", "got null"),
        ({"kind": "RoomSync"}, "apiVersion", "Required value"),
        ({"apiVersion": "roomsync.io/v1alpha1"}, "kind", "Required value"),
        (
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
            "kind",
            "roomsync validates ClusterConnection",
        ),
        ({"apiVersion": "roomsync.io/v1alpha1", "kind": 7}, "kind", "non-empty string"),
    ],
)
def test_documents_that_are_not_our_resources(obj: Any, path: str, fragment: str) -> None:
    errors = validate_object(obj)
    assert [e for e in errors if e.path == path and fragment in e.message], errors


def test_all_errors_are_reported_at_once_with_paths() -> None:
    doc = _example("RoomSync", "hq-floor-3")
    doc["spec"].update(leader="X", interval="1s", colour="blue")
    doc["spec"]["rooms"][1]["calendar"] = "nope"
    paths = [e.path for e in validate_object(doc)]
    assert paths == sorted(paths)
    assert {"spec.leader", "spec.interval", "spec.colour", "spec.rooms[1].calendar"} <= set(paths)
    assert str(validate_object(doc)[0]).startswith(paths[0] + ": ")


def test_a_schema_error_suppresses_meaningless_rule_errors() -> None:
    """A pattern error on interval must not add a CEL evaluation error on the same field."""
    doc = _example("RoomSync", "hq-floor-3")
    doc["spec"]["interval"] = "soon"
    errors = validate_object(doc)
    assert [e.path for e in errors] == ["spec.interval"]
    assert "could not be evaluated" not in errors[0].message


def test_status_written_by_the_operator_validates() -> None:
    """What sync/status.py writes must fit the status schema, or the apiserver would prune it silently."""
    from datetime import UTC, datetime

    from roomsync.sync.status import failure_status

    doc = _example("RoomSync", "hq-floor-3")
    doc["status"] = {
        **failure_status(None, "ConnectionNotFound", "Connection planon not found", datetime.now(UTC), 3),
        "lastSyncTime": "2026-01-05T09:00:00Z",
        "lastFullSyncTime": "2026-01-05T08:00:00Z",
        "lastHandledRequestedAt": "2026-01-05T08:59:00Z",
        "roomCount": 3,
        "rooms": [
            {"planon": "MR-3.14", "calendar": "mr-314@contoso.com", "bookings": 12, "pending": 1, "lastError": "x"}
        ],
        "counters": {"created": 4, "updated": 2, "cancelled": 1, "accepted": 3, "declined": 0, "conflicts": 1},
        "lastCycle": {"full": True, "durationSeconds": 1.234, "planned": 2, "failed": 0},
    }
    assert validate_object(doc) == []
    doc["status"]["conditions"][0]["lastTransitionTime"] = "yesterday"
    doc["status"]["conditions"][1]["status"] = "Maybe"
    doc["status"]["phase"] = "Running"
    paths = {e.path for e in validate_object(doc)}
    assert paths == {"status.conditions[0].lastTransitionTime", "status.conditions[1].status", "status.phase"}
