"""Running mutmut on RoomSync's layout, and reading what it found.

mutmut only puts ``.``, ``src`` or ``source`` on ``sys.path`` and names modules after their path, while RoomSync's
source root is ``operator/``. So mutmut runs in a staging directory under ``build/`` where ``src`` links to
``operator/``, ``tests`` to ``tests/`` and ``pyproject.toml`` (which holds ``[tool.mutmut]``) to the repository's.
The editable install's path entry resolves to the same directory as ``src``, so mutmut drops it: the tests import
the mutated copy, never the original. Everything mutmut writes stays in the staging directory.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from mutmut.mutation.file_mutation import mutate_file_contents
from mutmut.stats import status_by_exit_code
from mutmut.utils.format_utils import get_mutant_name

REPO = Path(__file__).resolve().parents[2]
#: mutmut's verdicts that mean a test noticed the mutant (a test that hangs on it is stopped: it noticed too).
CAUGHT = frozenset({"killed", "timeout"})
#: The same verdict on every run: the hypothesis profile of tests/engine/conftest.py (few, fixed examples per
#: property), and one string hash order for every process mutmut starts.
MUTATION_ENV = {"ROOMSYNC_HYPOTHESIS_PROFILE": "mutation", "PYTHONHASHSEED": "0"}


def stage(name: str) -> Path:
    """A fresh staging directory ``build/<name>``: no verdict or test mapping of an earlier run is reused."""
    staging = REPO / "build" / name
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for link, target in (("src", "operator"), ("tests", "tests"), ("pyproject.toml", "pyproject.toml")):
        (staging / link).symlink_to(Path("..", "..", target))
    return staging


def mutant_names() -> list[str]:
    """Every mutant mutmut makes of the files ``[tool.mutmut] only_mutate`` selects, in mutmut's own naming."""
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mutmut"]["only_mutate"]
    names: list[str] = []
    for path in sorted((REPO / "operator").rglob("*.py")):
        staged = Path("src") / path.relative_to(REPO / "operator")  # the path mutmut sees
        if any(fnmatch.fnmatch(str(staged), pattern) for pattern in patterns):
            mutated = mutate_file_contents(str(staged), path.read_text())
            names += [get_mutant_name(staged, name) for name in mutated.mutant_names]
    return sorted(names)


def run(staging: Path, names: list[str], *, log: Path | None = None) -> None:
    """``mutmut run`` in ``staging`` (all mutants when ``names`` is empty); raises when mutmut itself fails."""
    mutmut = Path(sys.executable).with_name("mutmut")
    env = os.environ | MUTATION_ENV
    if log is None:
        completed = subprocess.run([str(mutmut), "run", *names], cwd=staging, env=env, check=False)
    else:
        with log.open("w") as out:
            completed = subprocess.run(
                [str(mutmut), "run", *names], cwd=staging, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
            )
    if completed.returncode != 0:
        tail = "" if log is None else "\n" + "\n".join(log.read_text().replace("\r", "\n").splitlines()[-40:])
        raise RuntimeError(f"mutmut run failed with exit status {completed.returncode}{tail}")


def verdicts(staging: Path) -> dict[str, str]:
    """Mutant name -> mutmut's status (``killed``, ``survived``, ``no tests``, ``timeout``, ``not checked``, ...)."""
    found: dict[str, str] = {}
    for meta in sorted((staging / "mutants").rglob("*.py.meta")):
        exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
        found.update({name: status_by_exit_code[code] for name, code in exit_codes.items()})
    return found
