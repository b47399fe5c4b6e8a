"""Docs that match the code: the README's command table lists every verb the CLI has, and the Planon access-key
menu path is the same in the docs, the CRD, the examples and the error message."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from roomsync.cli.main import build_parser
from roomsync.connectors.planon.auth import ACCESS_KEY_MENU

ROOT = Path(__file__).resolve().parents[2]


def _verbs(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_the_readme_command_table_lists_every_verb() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("Other commands") : readme.index("## The API in one example")]
    rows = [line for line in table.splitlines() if line.startswith("| `roomsync")]
    verbs = _verbs(build_parser())
    for verb in verbs:
        assert any(f"`roomsync {verb}" in row or f"`{verb}`" in row for row in rows), f"{verb} is not in the table"
    for action in _verbs(verbs["sandbox"]):
        assert any(f"`roomsync sandbox {action}" in row for row in rows), f"sandbox {action} is not in the table"


def test_the_access_key_menu_path_is_the_same_everywhere() -> None:
    files = [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "crds").glob("*.yaml")),
        *sorted((ROOT / "manifests" / "examples").glob("*.yaml")),
        *sorted((ROOT / "operator" / "roomsync").rglob("*.py")),
    ]
    found = {}
    for path in files:
        for match in re.finditer(r"\b[A-Z]\w*(?: [a-z]\w*)? > (?:[\w ]+? > )*Access keys", path.read_text()):
            found.setdefault(match.group(0), []).append(path.relative_to(ROOT).as_posix())
    assert set(found) == {ACCESS_KEY_MENU}, found
    places = found[ACCESS_KEY_MENU]
    assert "docs/planon.md" in places and "crds/roomsync.io_connections.yaml" in places
    assert "manifests/examples/connection-planon.yaml" in places
