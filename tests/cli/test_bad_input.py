"""Bad input: every malformed manifest gets a clear error naming the field, exit code 1, and nothing is written.

"Nothing is written" is structural here: ``sync`` refuses before it opens any client, which the test proves by
pointing the Connections at a port nobody listens on and by checking the exit code is 1 (invalid input), not 3
(a cycle that failed talking to a backend).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from roomsync.cli.main import main

DEAD_URL = "http://127.0.0.1:9/sdk/system/rest/v1"

GOOD: list[dict[str, Any]] = [
    {
        "apiVersion": "roomsync.io/v1alpha1",
        "kind": "Connection",
        "metadata": {"name": "planon"},
        "spec": {
            "planon": {
                "url": DEAD_URL,
                "auth": {"accessKey": {"secretRef": {"name": "planon-credentials", "key": "accessKey"}}},
                "timeZone": "Europe/Amsterdam",
            }
        },
    },
    {
        "apiVersion": "roomsync.io/v1alpha1",
        "kind": "Connection",
        "metadata": {"name": "exchange"},
        "spec": {
            "graph": {
                "tenantId": "00000000-0000-0000-0000-000000000000",
                "clientId": "11111111-1111-1111-1111-111111111111",
                "auth": {"clientSecret": {"secretRef": {"name": "graph-credentials", "key": "clientSecret"}}},
                "baseUrl": "https://127.0.0.1:9/v1.0",
            }
        },
    },
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "planon-credentials"},
        "stringData": {"accessKey": "k"},
    },
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "graph-credentials"},
        "data": {"clientSecret": "czNjcjN0"},
    },
    {
        "apiVersion": "roomsync.io/v1alpha1",
        "kind": "RoomSync",
        "metadata": {"name": "hq"},
        "spec": {
            "planon": {"connectionRef": "planon"},
            "calendar": {"connectionRef": "exchange"},
            "leader": "Planon",
            "rooms": [{"planon": "MR-1", "calendar": "mr-1@contoso.com"}],
            "interval": "60s",
            "window": {"past": "1d", "future": "180d"},
        },
    },
]
ROOMSYNC = 4

Mutation = Callable[[list[dict[str, Any]]], None]


def spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return docs[ROOMSYNC]["spec"]


def setter(path: str, value: Any, doc: int = ROOMSYNC) -> Mutation:
    def mutate(docs: list[dict[str, Any]]) -> None:
        node = docs[doc]
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        node[keys[-1]] = value

    return mutate


def deleter(path: str, doc: int = ROOMSYNC) -> Mutation:
    def mutate(docs: list[dict[str, Any]]) -> None:
        node = docs[doc]
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return mutate


def rooms(count: int) -> Mutation:
    return setter("spec.rooms", [{"planon": f"R{i}", "calendar": f"r{i}@contoso.com"} for i in range(count)])


CASES: dict[str, tuple[Mutation, str]] = {
    "leader not in enum": (setter("spec.leader", "Exchange"), "spec.leader"),
    "direction not in enum": (setter("spec.direction", "Sideways"), "spec.direction"),
    "leader wrong type": (setter("spec.leader", 3), "spec.leader"),
    "rooms not a list": (setter("spec.rooms", "MR-1"), "spec.rooms"),
    "rooms empty": (setter("spec.rooms", []), "spec.rooms"),
    "room without calendar": (setter("spec.rooms", [{"planon": "MR-1"}]), "spec.rooms[0]"),
    "room mailbox not an e-mail": (setter("spec.rooms.0.calendar", "mr-1 at contoso"), "spec.rooms[0].calendar"),
    "room code empty": (setter("spec.rooms.0.planon", ""), "spec.rooms[0].planon"),
    "duplicate Planon room": (
        setter("spec.rooms", [{"planon": "A", "calendar": "a@x.com"}, {"planon": "A", "calendar": "b@x.com"}]),
        "spec.rooms[1]",
    ),
    "duplicate mailbox in other case": (
        setter("spec.rooms", [{"planon": "A", "calendar": "a@x.com"}, {"planon": "B", "calendar": "A@X.com"}]),
        "spec.rooms[1]",
    ),
    "5,000 rooms": (rooms(5000), "spec.rooms"),
    "unknown field in spec": (setter("spec.colour", "blue"), "spec.colour"),
    "unknown field in room": (setter("spec.rooms.0.floor", 3), "spec.rooms[0].floor"),
    "interval not a duration": (setter("spec.interval", "often"), "spec.interval"),
    "interval negative": (setter("spec.interval", "-5m"), "spec.interval"),
    "interval too long": (setter("spec.interval", "48h"), "spec.interval"),
    "interval a number": (setter("spec.interval", 60), "spec.interval"),
    "window past negative": (setter("spec.window.past", "-1d"), "spec.window.past"),
    "window future nonsense": (setter("spec.window.future", "forever"), "spec.window.future"),
    "maxDeletePercent over 100": (setter("spec.safety.maxDeletePercent", 250), "spec.safety.maxDeletePercent"),
    "maxDeletePercent a string": (setter("spec.safety.maxDeletePercent", "ten"), "spec.safety.maxDeletePercent"),
    "dryRun a string": (setter("spec.dryRun", "yes please"), "spec.dryRun"),
    "missing planon ref": (deleter("spec.planon"), "spec.planon"),
    "connectionRef not a name": (setter("spec.planon.connectionRef", "Not A Name!"), "spec.planon.connectionRef"),
    "reference to a missing Connection": (
        setter("spec.calendar.connectionRef", "nowhere"),
        "spec.calendar.connectionRef",
    ),
    "calendar ref to a Planon connection": (
        setter("spec.calendar.connectionRef", "planon"),
        "spec.calendar.connectionRef",
    ),
    "planon ref to a Graph connection": (setter("spec.planon.connectionRef", "exchange"), "spec.planon.connectionRef"),
    "Connection in another namespace": (setter("metadata.namespace", "other"), "connectionRef"),
    "missing Secret": (setter("spec.planon.auth.accessKey.secretRef.name", "gone", doc=0), "secretRef"),
    "missing key in Secret": (setter("spec.planon.auth.accessKey.secretRef.key", "nokey", doc=0), "secretRef"),
    "Secret data not base64": (setter("data", {"clientSecret": "***not base64***"}, doc=3), "data"),
    "Connection with two backends": (
        setter("spec.graph", copy.deepcopy(GOOD[1]["spec"]["graph"]), doc=0),
        "spec",
    ),
    "Connection with no backend": (setter("spec", {}, doc=0), "spec"),
    "Planon url not a URL": (setter("spec.planon.url", "acme planon", doc=0), "spec.planon.url"),
    "Planon auth with both schemes": (
        setter(
            "spec.planon.auth.oidc",
            {
                "tokenUrl": "https://idp/token",
                "clientId": "c",
                "clientSecret": {"secretRef": {"name": "s", "key": "k"}},
            },
            doc=0,
        ),
        "spec.planon.auth",
    ),
    "unknown time zone": (setter("spec.planon.timeZone", "Mars/Olympus", doc=0), "spec.planon.timeZone"),
    "Graph without tenant": (deleter("spec.graph.tenantId", doc=1), "spec.graph"),
    "Graph concurrency over the Exchange limit": (
        setter("spec.graph.maxConcurrentPerMailbox", 10, doc=1),
        "spec.graph.maxConcurrentPerMailbox",
    ),
    "metadata without name": (deleter("metadata.name"), "metadata.name"),
    "unknown kind": (setter("kind", "RoomSink"), "kind"),
    "wrong apiVersion": (setter("apiVersion", "roomsync.io/v9"), "apiVersion"),
}


def write(tmp_path: Path, docs: list[Any]) -> Path:
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_manifest_is_rejected_naming_the_field(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mutate, field = CASES[name]
    docs = copy.deepcopy(GOOD)
    mutate(docs)
    path = write(tmp_path, docs)
    assert main(["validate", "-f", str(path)]) == 1
    err = capsys.readouterr().err
    assert field in err, err
    assert main(["sync", "--once", "-f", str(path)]) == 1  # refused before any client is opened


def _alias_bomb(levels: int = 9, fan_out: int = 12) -> bytes:
    """The billion-laughs document: each level repeats the previous one ``fan_out`` times."""
    lines = ['l0: &l0 ["lol","lol","lol","lol"]']
    for level in range(1, levels + 1):
        refs = ",".join([f"*l{level - 1}"] * fan_out)
        lines.append(f"l{level}: &l{level} [{refs}]")
    return ("\n".join(lines) + "\n").encode()


ALIAS_BOMB = _alias_bomb()
#: 73 aliases, two per level: few aliases, but 2**36 nodes once expanded (it hung ``validate`` at 100 % CPU)
NARROW_ALIAS_BOMB = _alias_bomb(levels=36, fan_out=2) + b"extra: *l36\n"

RAW_CASES: dict[str, tuple[bytes, str]] = {
    "YAML that is not a mapping": (b"- just\n- a list\n", "not"),
    "a bare string": (b"hello\n", "not"),
    "not UTF-8": (b"kind: RoomSync\nmetadata: {name: caf\xe9}\n", "UTF-8"),
    "broken YAML": (b"kind: RoomSync\n  metadata: [\n", "YAML"),
    "alias bomb": (ALIAS_BOMB, "alias"),
    "alias bomb with few aliases": (NARROW_ALIAS_BOMB, "alias"),
    "empty file": (b"", "no manifests"),
}


@pytest.mark.parametrize("name", sorted(RAW_CASES))
def test_unreadable_files_are_rejected_clearly(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw, needle = RAW_CASES[name]
    path = tmp_path / "bad.yaml"
    path.write_bytes(raw)
    assert main(["validate", "-f", str(path)]) == 1
    err = capsys.readouterr().err
    assert needle.lower() in err.lower(), err
    assert str(path) in err or "input" in err


@pytest.mark.timeout(60)  # a hang guard: walking the expanded tree would never finish
@pytest.mark.parametrize("command", ["validate", "plan", "sync", "rooms"])
def test_every_reader_refuses_an_alias_bomb_before_walking_it(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_bytes(NARROW_ALIAS_BOMB)
    flag = "--connection" if command == "rooms" else "-f"
    assert main([command, flag, str(path)]) == 1
    assert "expand to more than" in capsys.readouterr().err


def test_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-f", str(tmp_path / "nope.yaml")]) == 1
    assert "nope.yaml" in capsys.readouterr().err


def test_the_good_bundle_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-f", str(write(tmp_path, GOOD))]) == 0
    assert "1 RoomSync" in capsys.readouterr().out


def test_there_are_at_least_forty_bad_inputs() -> None:
    assert len(CASES) + len(RAW_CASES) + 1 >= 40


GITOPS_NEIGHBOURS: list[dict[str, Any]] = [
    {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": ["roomsync.yaml"]},
    {"apiVersion": "external-secrets.io/v1beta1", "kind": "ExternalSecret", "metadata": {"name": "planon"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "b"}},
]


def test_validate_skips_kinds_it_does_not_own_and_names_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, [*GOOD, *GITOPS_NEIGHBOURS])
    assert main(["validate", "-f", str(path)]) == 0
    captured = capsys.readouterr()
    assert "1 RoomSync" in captured.out
    assert "skipped 3 document(s)" in captured.err and "ExternalSecret/planon" in captured.err
    # asked to be strict, the same folder is invalid, each foreign document named
    assert main(["validate", "--strict-kinds", "-f", str(path)]) == 1
    assert "Kustomization" in capsys.readouterr().err


def test_a_misspelt_kind_of_our_own_group_is_still_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = copy.deepcopy(GOOD)
    docs[-1]["kind"] = "RoomSinc"
    assert main(["validate", "-f", str(write(tmp_path, docs))]) == 1
    assert "RoomSinc" in capsys.readouterr().err


def test_skip_references_validates_a_roomsync_on_its_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alone = [d for d in GOOD if d["kind"] == "RoomSync"]
    path = write(tmp_path, alone)
    assert main(["validate", "-f", str(path)]) == 1  # its Connections are not in the files
    assert "connectionRef" in capsys.readouterr().err
    assert main(["validate", "--skip-references", "-f", str(path)]) == 0
    assert "references not checked" in capsys.readouterr().out
    broken = copy.deepcopy(alone)
    broken[0]["spec"]["leader"] = "Exchange"
    assert main(["validate", "--skip-references", "-f", str(write(tmp_path, broken))]) == 1  # the schema still holds
    assert "spec.leader" in capsys.readouterr().err
