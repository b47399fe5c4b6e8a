"""The CRDs themselves: valid CustomResourceDefinitions, structural, documented, cost-bounded, one copy only."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from roomsync.config import cel
from roomsync.config.crds import crd_directory, load_crds
from roomsync.config.durations import parse_go_duration
from roomsync.sync.status import COUNTERS
from tests.k8s.support import CRDS, load_documents, validate_builtin

CRD_FILES = sorted(CRDS.glob("roomsync.io_*.yaml"))
COMPREHENSIONS = re.compile(r"\.(all|exists|exists_one|map|filter)\(")


def _nodes(schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path or "(root)", schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), Mapping):
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), Mapping):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


def _schemas() -> list[tuple[str, Mapping[str, Any]]]:
    return [(crd.kind, schema) for crd in load_crds() for schema in crd.schemas.values()]


def test_loader_finds_every_crd_in_the_checkout() -> None:
    assert {c.kind for c in load_crds()} == {"RoomSync", "Connection", "ClusterConnection"}
    assert crd_directory().joinpath("roomsync.io_roomsyncs.yaml").is_file()


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda p: p.name)
def test_crd_is_a_valid_customresourcedefinition(path: Any) -> None:
    (doc,) = load_documents(path)
    validate_builtin(doc)  # strict: a YAML slip (e.g. a comma in a flow mapping) shows up as an unknown field
    spec = doc["spec"]
    assert spec["scope"] == ("Cluster" if spec["names"]["kind"] == "ClusterConnection" else "Namespaced")
    assert doc["metadata"]["name"] == f"{spec['names']['plural']}.{spec['group']}"
    assert spec["names"]["categories"] == ["roomsync-all"]
    assert not {"rs", "rsc", "conn"} & set(spec["names"].get("shortNames", [])), "clashes with built-in short names"
    (version,) = spec["versions"]
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize(("kind", "schema"), _schemas(), ids=lambda v: v if isinstance(v, str) else "")
def test_schema_is_structural_and_documented(kind: str, schema: Mapping[str, Any]) -> None:
    for path, node in _nodes(schema):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{kind}{path}: no type"
        assert isinstance(node.get("description"), str) and node["description"], f"{kind}{path}: no description"
        assert not {"$ref", "definitions", "dependencies", "patternProperties", "id"} & set(node), f"{kind}{path}"
        assert not ("properties" in node and "additionalProperties" in node), f"{kind}{path}"
        if node.get("x-kubernetes-list-type") == "map":
            items = node["items"]
            for key in node["x-kubernetes-list-map-keys"]:
                assert key in items.get("required", []) or "default" in items["properties"][key], f"{kind}{path}"


@pytest.mark.parametrize("kind", ["RoomSync", "Connection"])
def test_status_is_fully_structural_and_bounded(kind: str) -> None:
    (crd,) = [c for c in load_crds() if c.kind == kind]
    status = next(iter(crd.schemas.values()))["properties"]["status"]
    assert not status.get("x-kubernetes-preserve-unknown-fields")
    for path, node in _nodes(status, ".status"):
        if node.get("type") == "array":
            assert "maxItems" in node, f"{kind}{path}: unbounded list in status"
        if node.get("type") == "string" and "format" not in node and "enum" not in node:
            assert "maxLength" in node, f"{kind}{path}: unbounded string in status"
    condition = status["properties"]["conditions"]
    assert condition["x-kubernetes-list-map-keys"] == ["type"]
    assert set(condition["items"]["required"]) == {"type", "status", "reason", "message", "lastTransitionTime"}


def test_roomsync_status_has_the_fields_the_operator_writes() -> None:
    (crd,) = [c for c in load_crds() if c.kind == "RoomSync"]
    status = crd.schema("v1alpha1")["properties"]["status"]["properties"]
    assert set(status) >= {
        "observedGeneration",
        "conditions",
        "lastSyncTime",
        "lastFullSyncTime",
        "lastHandledRequestedAt",
        "roomCount",
        "rooms",
        "counters",
    }
    assert set(status["rooms"]["items"]["properties"]) == {"planon", "calendar", "bookings", "pending", "lastError"}
    # every counter the status builder writes is declared (and nothing else): a new counter needs the CRD too
    assert set(status["counters"]["properties"]) == set(COUNTERS)


def test_roomsync_spec_strings_and_lists_are_bounded() -> None:
    """CEL cost estimation assumes the worst case: every string and list the rules may touch needs a bound."""
    (crd,) = [c for c in load_crds() if c.kind == "RoomSync"]
    spec = crd.schema("v1alpha1")["properties"]["spec"]
    for path, node in _nodes(spec, ".spec"):
        if node.get("type") == "string" and "enum" not in node:
            assert "maxLength" in node, f"RoomSync{path}"
        if node.get("type") == "array":
            assert "maxItems" in node, f"RoomSync{path}"


def _rules() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for kind, schema in _schemas():
        for path, node in _nodes(schema):
            for rule in node.get("x-kubernetes-validations") or []:
                found.append((kind, path, rule))
    return found


@pytest.mark.parametrize(("kind", "path", "rule"), _rules(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_rule_compiles_has_a_message_and_no_nested_comprehension(
    kind: str, path: str, rule: dict[str, Any]
) -> None:
    cel.check_rule(rule["rule"])
    assert rule.get("message"), f"{kind}{path}: a rule without message shows users its CEL source"
    assert len(COMPREHENSIONS.findall(rule["rule"])) <= 1, (
        f"{kind}{path}: O(n^2) rules exceed the apiserver cost budget"
    )
    for literal in re.findall(r"duration\('([^']*)'\)", rule["rule"]):
        parse_go_duration(literal)  # Kubernetes CEL reads duration() like Go: no 'd' unit


def test_there_are_rules_for_what_the_schema_cannot_say() -> None:
    messages = " | ".join(rule["message"] for _, _, rule in _rules())
    for fragment in (
        "exactly one of planon, graph",
        "between 2s and 24h",
        "between 1m and 7d",
        "shorter than interval",
    ):
        assert fragment in messages
    assert "between 1h and 730d" in messages and "must not be negative" in messages


def test_printer_columns_point_at_schema_fields() -> None:
    for crd in load_crds():
        (version,) = crd.document["spec"]["versions"]
        schema = version["schema"]["openAPIV3Schema"]
        for column in version["additionalPrinterColumns"]:
            parts = re.sub(r"\[\?\(.*?\)\]", "", column["jsonPath"]).strip(".").split(".")
            if parts[0] == "metadata":
                continue  # ObjectMeta is the apiserver's
            node = schema
            for part in parts:
                if node.get("type") == "array":
                    node = node["items"]
                node = node["properties"][part]


def test_crd_directory_is_a_kustomize_base_listing_every_crd() -> None:
    (kustomization,) = load_documents(CRDS / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted(p.name for p in CRD_FILES)


def test_no_category_equals_a_resource_name() -> None:
    """``kubectl get roomsync`` must name one resource: a category spelled like a kind's singular or plural (as
    ``roomsync`` was) would make it ambiguous, the trap ESO's category rename avoided."""
    names = [load_documents(p)[0]["spec"]["names"] for p in CRD_FILES]
    spelled = {n[k] for n in names for k in ("singular", "plural")} | {
        s for n in names for s in n.get("shortNames", [])
    }
    categories = {c for n in names for c in n["categories"]}
    assert categories == {"roomsync-all"} and not categories & spelled
