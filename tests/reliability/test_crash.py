"""Crash safety: ``roomsync sync --once`` is SIGKILLed right after each write of a cycle, restarted, and checked.

The situation (:mod:`tests.reliability.scenario`) makes one cycle of two RoomSyncs (the boardroom with Planon in the
lead, two rooms following) write creates, updates and cancels both ways, an accept and a decline. The reference run
does it uninterrupted; then for every N from 1 to the reference's number of writes the emulators are put back to
the same state, the CLI runs as a separate process (forked from a warm fork server, see :mod:`tests.reliability.cli`;
at the middle kill point ``.venv/bin/roomsync`` itself, by exec), and the write gate
(:class:`tests.reliability.rig.WriteGate`) commits the N-th write and holds its answer while the test kills the
process. A fresh process then runs to completion, and the result must be exactly the reference: nothing lost,
nothing twice, every meeting request answered once, and ``roomsync plan`` finds nothing left to do.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from roomsync.sandbox.building import workday
from tests.reliability import cli, scenario
from tests.reliability.rig import Canonical, Snapshot, ThreadedRig, threaded_rig

MAX_RESTARTS = 3


@dataclass
class Bench:
    threaded: ThreadedRig
    manifests: Path
    before: Snapshot
    reference: Canonical | None = None
    #: the meeting requests the uninterrupted cycle answered, and how (event id -> [accept | decline ...])
    reference_answers: dict[str, list[str]] = field(default_factory=dict)
    total_writes: int = 0
    reference_writes: list[tuple[str, str, str, int]] = field(default_factory=list)

    @property
    def rig(self):  # type: ignore[no-untyped-def]
        return self.threaded.rig

    def sync(self, mode: str = "fork") -> cli.Completed:
        return cli.run(["sync", "--once", "-f", str(self.manifests)], mode=mode)

    def plan(self) -> cli.Completed:
        return cli.run(["plan", "-f", str(self.manifests)])

    def reset(self, kill_at: int | None) -> int:
        """Back to the state before the cycle; returns where the Graph request log starts."""

        def reset() -> int:
            self.rig.restore(self.before)
            self.rig.gate.arm(kill_at)
            return len(self.rig.graph.state.traffic.log)

        return self.threaded.run(reset)

    def run_to_completion(self) -> tuple[int, list[int]]:
        """``sync --once`` until ``plan`` finds nothing to do; returns the restarts needed and the exit codes."""
        codes = []
        for restart in range(1, MAX_RESTARTS + 1):
            codes.append(self.sync().code)
            if self.plan().code == 0:
                return restart, codes
        return MAX_RESTARTS + 1, codes

    def kill_at(self, n: int, mode: str = "fork") -> tuple[bool, tuple[str, str, str, int] | None]:
        """Run ``sync --once`` and SIGKILL it after the n-th write; ``False`` if it finished before that."""
        gate = self.rig.gate
        for _ in range(MAX_RESTARTS):
            process = cli.CliProcess(["sync", "--once", "-f", str(self.manifests)], mode=mode)
            deadline = time.monotonic() + 60
            while not gate.tripped.wait(0.01):
                if process.poll() is not None or time.monotonic() > deadline:
                    break
            if gate.tripped.is_set():
                process.kill()
                result = process.wait()
                assert result.code == -9, f"the process was not killed: {result}"
                nth = gate.writes[n - 1] if len(gate.writes) >= n else None
                gate.release(self.threaded.loop)
                self.threaded.run(lambda: gate.arm(None))
                return True, nth
            process.wait()  # finished before its n-th write: the count goes on in the next run
        self.threaded.run(lambda: gate.arm(None))
        return False, None


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    with threaded_rig() as threaded:
        rig = threaded.rig
        manifests = rig.write_manifests(tmp_path_factory.mktemp("crash"), planon_extra=scenario.NATIVE_SERIES)
        day = workday()
        handles = threaded.call(scenario.baseline(rig, day))
        weekly = threaded.call(scenario.series(rig, day))
        first = cli.run(["sync", "--once", "-f", str(manifests)])
        assert first.code == 0, first.output
        threaded.call(scenario.changes(rig, day, handles))
        threaded.call(scenario.series_change(rig, weekly))
        before = threaded.run(rig.snapshot)
        bench = Bench(threaded, manifests, before)
        log_start = bench.reset(None)
        restarts, codes = bench.run_to_completion()
        assert restarts == 1, f"the uninterrupted cycle did not converge: exit codes {codes}"
        bench.reference = threaded.run(rig.canonical)
        bench.reference_answers = threaded.run(lambda: rig.answers(log_start))
        bench.total_writes = rig.gate.count
        bench.reference_writes = list(rig.gate.writes)
        yield bench


def test_reference_cycle_writes_every_kind(bench: Bench) -> None:
    """The situation is complete: creates, updates, cancels both ways, an accept and a decline, no duplicates."""
    paths = [f"{backend} {method} {path}" for backend, method, path, _ in bench.reference_writes]
    assert bench.total_writes >= 10
    for needle in ("BomAdd", "planon POST /sdk/system/rest/v1/update/", "changeState", "graph PATCH", "/cancel"):
        assert any(needle in p for p in paths), (needle, paths)
    assert any(p.startswith("graph POST") and p.endswith("/events") for p in paths)
    assert any(p.endswith("/accept") for p in paths) and any(p.endswith("/decline") for p in paths)
    assert sorted(a for acts in bench.reference_answers.values() for a in acts) >= ["accept", "decline"]
    assert all(len(acts) == 1 for acts in bench.reference_answers.values()), bench.reference_answers
    assert bench.reference is not None and not bench.reference.duplicates()
    subjects = {key[-1] for key in bench.reference.planon}
    assert {"Workshop", "Interview", "Quarterly results", "Standup (moved)", "Design review", "Weekly sync"} <= subjects
    assert any(p.startswith("graph DELETE") for p in paths)  # the series' cancelled occurrence
    [series] = [key for key in bench.reference.calendar if key[-1] == "Weekly sync"]
    assert series[3]  # the room's series holds the occurrence Planon cancelled as cancelled
    assert not {"Retro", "Budget", "Clashing request"} & subjects


def test_killed_after_every_write_converges_without_loss_or_duplicates(bench: Bench) -> None:
    assert bench.reference is not None
    failures: list[str] = []
    kills = 0
    real_binary = max(1, bench.total_writes // 2)  # this kill point runs .venv/bin/roomsync by exec, no fork server
    for n in range(1, bench.total_writes + 1):
        log_start = bench.reset(n)
        killed, nth = bench.kill_at(n, mode="exec" if n == real_binary else "fork")
        if not killed:
            failures.append(f"N={n}: the cycle finished before its {n}-th write")
            continue
        kills += 1
        restarts, codes = bench.run_to_completion()
        state = bench.threaded.run(bench.rig.canonical)
        answers = bench.threaded.run(lambda start=log_start: bench.rig.answers(start))  # type: ignore[misc]
        where = f"N={n} (killed after {nth}{', real binary' if n == real_binary else ''})"
        if restarts > MAX_RESTARTS:
            failures.append(f"{where}: not converged after {MAX_RESTARTS} restarts (exit codes {codes})")
        if state.duplicates():
            failures.append(f"{where}: duplicated {state.duplicates()}")
        lost = (bench.reference.planon - state.planon) + (bench.reference.calendar - state.calendar)
        extra = (state.planon - bench.reference.planon) + (state.calendar - bench.reference.calendar)
        if lost:
            failures.append(f"{where}: lost {sorted(lost)}")
        if extra:
            failures.append(f"{where}: unexpected {sorted(extra)}")
        # every request the uninterrupted cycle answered is answered exactly once, and the same way (accepted stays
        # accepted, declined stays declined, pending stays pending): before the kill or after the restart
        if answers != bench.reference_answers:
            failures.append(f"{where}: meeting requests answered {answers}, expected {bench.reference_answers}")
    assert not failures, "\n".join(failures)
    assert kills == bench.total_writes
