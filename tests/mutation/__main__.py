"""``python -m tests.mutation [--sample | --only NAME...]``: mutation testing of the engine and apply (docs/testing.md).

Without ``--sample`` (``make mutate``): every mutant, the figure written to docs/mutation.txt; exit status 1 when
fewer than ``TARGET`` % are killed or a survivor is neither killed nor listed as equivalent in docs/testing.md.

With ``--sample`` (``make test``): the same ``SAMPLE_SIZE`` mutants on every run (see :func:`sample`), the figure
printed; exit status 1, naming the survivors, when fewer than ``FLOOR`` % of them are killed.

With ``--only NAME...`` (names or globs, as ``make mutate`` lists them): those mutants again in build/mutate, keeping
what an earlier run there learnt; for checking that a new test kills a survivor.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version

from tests.mutation.mutmut_run import CAUGHT, REPO, mutant_names, run, stage, verdicts
from tests.mutation.report import Tally, equivalents

TARGET = 90.0
FLOOR = 90.0
SAMPLE_SIZE = 100
SAMPLE_SEED = "roomsync-mutation-sample-1"
FIGURE = REPO / "docs" / "mutation.txt"
TESTING_DOC = REPO / "docs" / "testing.md"


def sample(names: list[str], size: int, seed: str) -> list[str]:
    """The ``size`` mutants with the smallest seeded hash of their name.

    The same mutants on every run, so the figure does not flap; and a mutant's place depends on its name alone, so
    adding or removing mutants elsewhere (the code changed) leaves the rest of the sample as it was.
    """
    return sorted(names, key=lambda name: hashlib.sha256(f"{seed}:{name}".encode()).hexdigest())[:size]


def full() -> int:
    staging = stage("mutate")
    started = time.monotonic()
    run(staging, [])
    elapsed = time.monotonic() - started
    tally = Tally(verdicts(staging), equivalents(TESTING_DOC))
    missing = sorted(set(mutant_names()) - set(tally.verdicts))
    if missing:
        raise RuntimeError(f"mutmut gave no verdict for {len(missing)} mutants, e.g. {missing[:3]}")
    FIGURE.write_text(render(tally, elapsed))
    print(FIGURE.read_text())
    if tally.rate < TARGET or tally.unexplained:
        print(f"FAILED: the target is {TARGET:.0f} % killed and every survivor killed or listed as equivalent")
        return 1
    return 0


def render(tally: Tally, elapsed: float) -> str:
    lines = [
        "Mutation testing of roomsync.engine and roomsync.sync.apply; `make mutate` writes this file (docs/testing.md)",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {elapsed / 60:.1f} min with mutmut {version('mutmut')}, "
        "tests/engine under the hypothesis profile `mutation`.",
        "",
        f"Killed: {tally.summary()}; target {TARGET:.0f} %.",
        f"Survivors: {len(tally.survivors)}, of which {len(tally.survivors) - len(tally.unexplained)} listed as "
        f"equivalent in docs/testing.md and {len(tally.unexplained)} unexplained.",
        "",
        "Per module (killed / total):",
        *tally.per_module(),
        "",
        "Survivors:",
        *(tally.survivor_lines() or ["  none"]),
    ]
    if tally.stale:
        lines += ["", "Listed as equivalent but killed or no longer made (remove from docs/testing.md):"]
        lines += [f"  {name}" for name in tally.stale]
    return "\n".join(lines) + "\n"


def sampled() -> int:
    names = mutant_names()
    chosen = sample(names, SAMPLE_SIZE, SAMPLE_SEED)
    staging = stage("mutate-sample")
    started = time.monotonic()
    run(staging, chosen, log=staging / "mutmut.log")
    elapsed = time.monotonic() - started
    found = verdicts(staging)
    missing = [name for name in chosen if name not in found]
    if missing:
        raise RuntimeError(f"mutmut did not make {len(missing)} sampled mutants, e.g. {missing[:3]}")
    tally = Tally({name: found[name] for name in chosen}, equivalents(TESTING_DOC))
    print(
        f"Mutation sample ({len(chosen)} of {len(names)} mutants, seed {SAMPLE_SEED!r}): {tally.summary()} "
        f"in {elapsed:.0f} s; floor {FLOOR:.0f} %"
    )
    print("\n".join(tally.survivor_lines()))
    if tally.rate < FLOOR:
        print(
            f"FAILED: the mutation sample's kill rate {tally.rate:.1f} % is below {FLOOR:.0f} %. Kill the survivors "
            "marked NOT EXPLAINED with a test (docs/testing.md says how), or list a truly equivalent one there."
        )
        return 1
    return 0


def only(patterns: list[str]) -> int:
    staging = REPO / "build" / "mutate"
    if not (staging / "src").exists():
        stage("mutate")
    run(staging, patterns)
    found = verdicts(staging)
    chosen = {name: status for name, status in found.items() if any(fnmatch.fnmatch(name, p) for p in patterns)}
    for name, status in sorted(chosen.items()):
        print(f"{status:>10}  {name}")
    return 0 if all(status in CAUGHT for status in chosen.values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--sample", action="store_true", help="run the fixed CI sample and assert the floor")
    group.add_argument("--only", nargs="+", metavar="NAME", help="run these mutants (names or globs) again")
    args = parser.parse_args()
    if args.only:
        return only(args.only)
    return sampled() if args.sample else full()


if __name__ == "__main__":
    sys.exit(main())
