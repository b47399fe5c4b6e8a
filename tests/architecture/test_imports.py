"""Import rules import-linter cannot express: no private module of a dependency (``kopf._cogs`` and the like).

A private module can move in any release; the operator once reached into kopf's client this way. The layer
contracts themselves live in ``.importlinter`` and run in ``make test`` (``lint-imports``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import roomsync

SOURCE = Path(roomsync.__file__).parent


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _private(name: str) -> bool:
    """A dependency's module below a name starting with ``_`` (``kopf._cogs``; not ``__future__``)."""
    return not name.startswith("roomsync") and any(part.startswith("_") for part in name.split(".")[1:])


def test_no_module_imports_a_private_module_of_a_dependency() -> None:
    private = [
        f"{path.relative_to(SOURCE.parent)}: {name}"
        for path in sorted(SOURCE.rglob("*.py"))
        for name in _imports(path)
        if _private(name)
    ]
    assert private == []


def test_the_check_sees_a_private_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from __future__ import annotations\nfrom kopf._cogs.clients import api\nimport json\n")
    assert [n for n in _imports(sample) if _private(n)] == ["kopf._cogs.clients"]
