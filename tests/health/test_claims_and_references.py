"""One owner per room (files and rules), and ClusterConnection resolution through the one reference path."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from roomsync.config.bundle import load_bundle
from roomsync.config.claims import conflicts
from roomsync.config.references import DictSource, ResolveError, resolve, selector_matches
from roomsync.config.roomsync import RoomSyncConfig
from roomsync.model import Side
from tests.k8s.support import EXAMPLES


def manifests(tmp_path: Path, *docs: dict[str, Any]) -> str:
    path = tmp_path / "all.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


def examples() -> list[dict[str, Any]]:
    return [d for p in sorted(EXAMPLES.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]


def roomsyncs() -> list[dict[str, Any]]:
    return [d for d in examples() if d["kind"] == "RoomSync"]


def test_validate_refuses_a_room_claimed_by_two_roomsyncs_naming_the_first(tmp_path: Path) -> None:
    docs = examples()
    first = next(d for d in docs if d["kind"] == "RoomSync")
    second = {**first, "metadata": {**first["metadata"], "name": "zz-second"}}
    second["spec"] = {**first["spec"], "leader": "Calendar", "rooms": first["spec"]["rooms"][:1]}
    bundle = load_bundle([manifests(tmp_path, *docs, second)], environ={})
    asyncio.run(bundle.resolve())
    messages = [str(p) for p in bundle.problems if "already synced" in p.message]
    assert len(messages) == 1
    owner = f"RoomSync {first['metadata'].get('namespace', 'default')}/{first['metadata']['name']}"
    assert "zz-second" in messages[0] and owner in messages[0]


def config(
    name: str, namespace: str, rooms: list[tuple[str, str]], created: str = "", planon: str = "planon"
) -> RoomSyncConfig:
    body = {
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
        "spec": {
            "planon": {"connectionRef": planon},
            "calendar": {"connectionRef": "exchange"},
            "rooms": [{"planon": p, "calendar": c} for p, c in rooms],
        },
    }
    return RoomSyncConfig.from_manifest(body)


SPECS = {
    ("Connection", "a", "planon"): {"planon": {"url": "https://planon.example.com/sdk/system/rest/v1/"}},
    ("Connection", "b", "planon"): {"planon": {"url": "HTTPS://PLANON.example.com/sdk/system/rest/v1"}},
    ("Connection", "b", "test-planon"): {"planon": {"url": "https://planon-test.example.com/sdk/system/rest/v1"}},
    ("Connection", "a", "exchange"): {"graph": {"tenantId": "t"}},
    ("Connection", "b", "exchange"): {"graph": {"tenantId": "t"}},
}


def lookup(kind: str, namespace: str, name: str) -> Any:
    return SPECS.get((kind, namespace, name))


def test_oldest_wins_across_namespaces_whatever_the_order() -> None:
    young = config("aaa", "b", [("MR-1", "mr-1@x.com"), ("MR-2", "mr-2@x.com")], created="2026-02-01T00:00:00Z")
    old = config("zzz", "a", [("MR-1", "other-1@x.com")], created="2026-01-01T00:00:00Z")
    for order in ([young, old], [old, young]):
        lost = conflicts(order, lookup)
        assert list(lost) == ["b/aaa"]  # the same Planon (URL spelled differently), the older RoomSync keeps MR-1
        (conflict,) = lost["b/aaa"]
        assert conflict.room == "MR-1" and conflict.owner == "a/zzz" and "Planon unit MR-1" in conflict.message


def test_same_calendar_through_the_same_backend_is_a_claim_too() -> None:
    first = config("first", "a", [("MR-1", "Room-1@x.com")])
    second = config("second", "b", [("OTHER", "room-1@X.com")])
    (conflict,) = conflicts([first, second], lookup)["b/second"]
    assert conflict.what.lower() == "calendar room-1@x.com"


def test_another_planon_with_the_same_codes_is_no_claim() -> None:
    prod = config("prod", "a", [("MR-1", "mr-1@x.com")])
    test = config("test", "b", [("MR-1", "mr-1@test.x.com")], planon="test-planon")
    assert conflicts([prod, test], lookup) == {}


def test_a_refused_room_claims_nothing_for_the_next_one() -> None:
    owner = config("a", "a", [("MR-1", "mr-1@x.com")], created="1")
    second = config("b", "a", [("MR-1", "mr-9@x.com")], created="2")  # loses MR-1 to a
    third = config("c", "a", [("MR-8", "mr-9@x.com")], created="3")  # mr-9 was refused to b: c keeps it
    lost = conflicts([third, second, owner], lookup)
    assert set(lost) == {"a/b"}


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({}, {}, True),
        ({"matchLabels": {"team": "fm"}}, {"team": "fm", "x": "y"}, True),
        ({"matchLabels": {"team": "fm"}}, {"team": "hr"}, False),
        ({"matchExpressions": [{"key": "team", "operator": "In", "values": ["fm", "hr"]}]}, {"team": "hr"}, True),
        ({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["hr"]}]}, {"team": "hr"}, False),
        ({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, {}, True),
    ],
)
def test_namespace_selector(selector: dict[str, Any], labels: dict[str, str], matches: bool) -> None:
    assert selector_matches(selector, labels) is matches


def cluster_source(allowed: dict[str, Any]) -> DictSource:
    planon = {
        "planon": {"url": "https://p.example.com", "auth": {"accessKey": {"secretRef": {"name": "p", "key": "k"}}}}
    }
    return DictSource(
        connections={
            ("fm", "exchange"): {
                "spec": {
                    "graph": {
                        "tenantId": "t",
                        "clientId": "c",
                        "auth": {"clientSecret": {"secretRef": {"name": "g", "key": "k"}}},
                    }
                }
            }
        },
        secrets={("roomsync-system", "p"): {"k": "v"}, ("fm", "g"): {"k": "v"}},
        cluster_connections={"shared-planon": {"spec": {**planon, "allowedNamespaces": allowed}}},
    )


def shared_config(namespace: str) -> RoomSyncConfig:
    body = {
        "metadata": {"name": "hq", "namespace": namespace},
        "spec": {
            "planon": {"connectionRef": "shared-planon", "connectionKind": "ClusterConnection"},
            "calendar": {"connectionRef": "exchange"},
            "rooms": [{"planon": "MR-1", "calendar": "mr-1@x.com"}],
        },
    }
    return RoomSyncConfig.from_manifest(body)


async def test_cluster_connection_secrets_come_from_the_cluster_namespace() -> None:
    inputs = await resolve(cluster_source({"names": ["fm"]}), shared_config("fm"))
    planon = inputs.connections[Side.PLANON]
    assert planon.kind == "ClusterConnection" and planon.namespace == "roomsync-system"
    assert inputs.depends.cluster_connections == {"shared-planon"} and inputs.depends.cluster_secrets == {"p"}
    assert inputs.depends.secrets == {"g"}


async def test_cluster_connection_refuses_a_namespace_it_does_not_allow() -> None:
    with pytest.raises(ResolveError) as refused:
        await resolve(cluster_source({"names": ["hr"]}), shared_config("fm"))
    assert refused.value.reason == "ConnectionNotAllowed"
    assert "does not allow namespace 'fm'" in refused.value.message


async def test_offline_a_label_selector_cannot_admit_a_namespace_and_says_why() -> None:
    with pytest.raises(ResolveError) as refused:
        await resolve(cluster_source({"selector": {"matchLabels": {"a": "b"}}}), shared_config("fm"))
    assert "labels are not known here" in refused.value.message
