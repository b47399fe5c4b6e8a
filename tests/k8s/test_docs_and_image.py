"""Generated docs are current; the image recipe keeps its promises (non-root, compiled, roomsync run)."""

from __future__ import annotations

import re
import subprocess
import sys

from roomsync.config import docs
from tests.k8s.support import REPO


def test_configuration_reference_is_up_to_date() -> None:
    committed = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == docs.render(), "run: python -m roomsync.config.docs -o docs/configuration.md"


def test_configuration_reference_documents_every_spec_field() -> None:
    text = docs.render()
    for field in (
        "spec.rooms[].calendar",
        "spec.window.future",
        "spec.safety.maxDeletePercent",
        "status.counters.refused",
    ):
        assert f"`{field}`" in text
    assert '`"180d"`' in text and "**required**" in text


def test_docs_module_runs_as_a_script_and_checks() -> None:
    target = REPO / "docs" / "configuration.md"
    result = subprocess.run(
        [sys.executable, "-m", "roomsync.config.docs", "--check", "-o", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_dockerfile_is_slim_non_root_and_compiled() -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M)
    assert re.search(r"^USER 65532:65532$", text, re.M)
    assert "compileall" in text
    assert 'ENTRYPOINT ["roomsync"]' in text and 'CMD ["run"' in text
    copied = re.findall(r"^COPY (?!--from)(.+) \./", text, re.M)
    assert copied, "the build copies sources explicitly"
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    for heavy in (".venv", ".git", "tests"):
        assert heavy in ignored
