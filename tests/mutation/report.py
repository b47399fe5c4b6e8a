"""The figure a mutation run records: killed, total, rate, and every survivor with its explanation (if any).

Equivalent mutants (the code's behaviour cannot differ) are listed in docs/testing.md, one a line:
``- `<mutant name>`: <reason>``. They stay in the total: the rate never hides a mutant.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.mutation.mutmut_run import CAUGHT

EQUIVALENT_LINE = re.compile(r"^- `(?P<name>[^`]+__mutmut_\d+)`: (?P<reason>\S.*)$")


def equivalents(testing_doc: Path) -> dict[str, str]:
    """Mutant name -> why it is equivalent, from docs/testing.md."""
    found: dict[str, str] = {}
    for line in testing_doc.read_text().splitlines():
        match = EQUIVALENT_LINE.match(line)
        if match:
            found[match["name"]] = match["reason"]
    return found


@dataclass(frozen=True)
class Tally:
    verdicts: dict[str, str]  # mutant name -> mutmut status
    equivalent: dict[str, str]  # mutant name -> reason (all listed, whether in this run or not)

    @property
    def total(self) -> int:
        return len(self.verdicts)

    @property
    def killed(self) -> int:
        return sum(1 for status in self.verdicts.values() if status in CAUGHT)

    @property
    def rate(self) -> float:
        return 100 * self.killed / self.total if self.total else 0.0

    @property
    def survivors(self) -> list[str]:
        """Mutants no test noticed (survived, no test reaches them, or not checked at all)."""
        return sorted(name for name, status in self.verdicts.items() if status not in CAUGHT)

    @property
    def unexplained(self) -> list[str]:
        """Survivors that are not listed as equivalent: each needs a test or a line in docs/testing.md."""
        return [name for name in self.survivors if name not in self.equivalent]

    @property
    def stale(self) -> list[str]:
        """Listed as equivalent but killed, or no longer made (the code changed): the line should go."""
        return sorted(name for name in self.equivalent if self.verdicts.get(name, "killed") in CAUGHT)

    def summary(self) -> str:
        return f"{self.killed} of {self.total} mutants killed ({self.rate:.1f} %)"

    def survivor_lines(self) -> list[str]:
        return [
            f"  {name} [{self.verdicts[name]}]: "
            + (f"equivalent - {self.equivalent[name]}" if name in self.equivalent else "NOT EXPLAINED")
            for name in self.survivors
        ]

    def per_module(self) -> list[str]:
        totals: Counter[str] = Counter()
        killed: Counter[str] = Counter()
        for name, status in self.verdicts.items():
            module = module_of(name)
            totals[module] += 1
            killed[module] += status in CAUGHT
        return [
            f"  {module:<28} {killed[module]:>5} / {totals[module]:<5} {100 * killed[module] / totals[module]:5.1f} %"
            for module in sorted(totals)
        ]


def module_of(mutant: str) -> str:
    """``roomsync.engine.plan.xǁ_Plannerǁrun__mutmut_3`` -> ``roomsync.engine.plan``."""
    parts = mutant.split(".")
    return ".".join(part for part in parts if not part.startswith(("x_", "xǁ")))
