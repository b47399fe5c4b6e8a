"""The README's sample output is checked against real runs (the demo, the sandbox trial), so it stays true."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
_DATES = re.compile(
    r"\b(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day \d\d \w+ \d{4}"  # Tuesday 01 December 2026
    r"|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d \w{3}"  # Tue 01 Dec
    r"|\d{4}-\d\d-\d\d)\b"  # 2026-12-01
)


def readme_sample(opening: str) -> list[str]:
    """The lines of the README's ``text`` block that starts with ``opening``, as a run prints them: the day (it is
    the next working day of the run) and runs of spaces and rules normalised; ``...`` lines mark what was left out."""
    text = README.read_text()
    block = text[text.index("```text\n" + opening) + 8 :]
    lines = [_normal(line) for line in block[: block.index("```")].splitlines()]
    return [line for line in lines if line and "..." not in line]


def _normal(line: str) -> str:
    return " ".join(_DATES.sub("<day>", line).strip(" ─").split())


def assert_readme_sample_is_true(opening: str, printed: str) -> None:
    """Every line of the README's sample is (part of) a line the command printed."""
    seen = [_normal(line) for line in printed.splitlines()]
    missing = [line for line in readme_sample(opening) if not any(line in s for s in seen)]
    assert not missing, f"README sample lines the run does not print: {missing}"


def readme_trial_commands() -> list[str]:
    """The ``roomsync`` commands of the README's trial (the console block after "In a second terminal"), without
    their comments."""
    text = README.read_text()
    block = text[text.index("```console", text.index("In a second terminal")) :]
    block = block[: block.index("```", 3)]
    return [line.split("#")[0].strip() for line in block.splitlines() if line.startswith("roomsync ")]
