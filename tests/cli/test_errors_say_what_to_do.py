"""What ``roomsync plan`` says when a newcomer's manifests are wrong: the Connection, the Secret, the likely cause,
the URL and the reason - on stdout and in the log, without an object repr or a traceback."""

from __future__ import annotations

import asyncio
import copy
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from roomsync.cli.main import main
from roomsync.cli.sandbox_cmd import running_sandboxes


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def changed(docs: list[dict[str, Any]], kind: str, name: str, path: tuple[str, ...], value: object) -> list[Any]:
    docs = copy.deepcopy(docs)
    target = next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return docs


DEAD = f"http://127.0.0.1:{closed_port()}/sdk/system/rest/v1"
CASES = {
    "wrong Graph secret": (
        ("Secret", "graph-sandbox", ("stringData", "clientSecret"), "wrong"),
        [
            "Calendar (Connection exchange-online): Entra ID refused a token for app",
            "AADSTS7000215",
            "the client secret in Secret facilities/graph-sandbox, key clientSecret is wrong",
        ],
    ),
    "wrong Planon key": (
        ("Secret", "planon-sandbox", ("stringData", "accessKey"), "wrong"),
        [
            "Planon (Connection planon): Planon refused the access key in Secret facilities/planon-sandbox, key "
            "accessKey",
            "Accounts > User groups > Users > Settings > Access keys",
        ],
    ),
    "dead Planon URL": (
        ("Connection", "planon", ("spec", "planon", "url"), DEAD),
        [f"Planon (Connection planon): Planon at {DEAD} cannot be reached: connection refused"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_plan_names_the_connection_the_secret_and_the_cause(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (kind, name, path, value), needles = CASES[case]
    async with running_sandboxes() as boxes:
        manifests = tmp_path / "sandbox.yaml"
        manifests.write_text(yaml.safe_dump_all(changed(boxes.manifests(), kind, name, path, value)))
        code = await asyncio.to_thread(main, ["plan", "-f", str(manifests)])
    out, err = capsys.readouterr()
    assert code == 3
    for needle in needles:
        assert needle in " ".join(out.split()), out  # rich wraps long lines
    for text in (out, err):
        assert "object at 0x" not in text and "SSLContext" not in text and "Traceback" not in text
