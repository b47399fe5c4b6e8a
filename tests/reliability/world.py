"""The operator's own cycle code run in-process against the rig: for fault tests that need many quick cycles.

The RoomSyncs come from the same manifests the CLI reads (``load_bundle``), through the same ``open_runners`` and
client pool as ``roomsync sync``; only the process boundary is left out.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from roomsync.cli.sync_cmd import open_runners
from roomsync.config.bundle import load_bundle
from roomsync.sandbox.building import workday
from roomsync.sync.cycle import CycleResult
from roomsync.sync.runner import ClientPool, RoomSyncRunner
from roomsync.sync.status import cycle_status
from tests.reliability import scenario
from tests.reliability.rig import Canonical, Rig


@dataclass
class World:
    rig: Rig
    pool: ClientPool
    runners: list[RoomSyncRunner]
    day: datetime
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def cycle(self, *, force_full: bool = False) -> list[CycleResult]:
        """One cycle of every RoomSync, in turn (as ``sync --once`` does), with their status updated."""
        results = []
        for runner in self.runners:
            now = datetime.now(UTC)
            result = await runner.cycle(now, force_full=force_full)
            self.statuses[runner.config.name] = cycle_status(
                self.statuses.get(runner.config.name), result, now, runner.config.generation
            )
            results.append(result)
        return results

    async def converge(self, limit: int = 4) -> int:
        """Cycle until a cycle plans nothing and fails nothing; returns the cycles it took (``limit + 1``: never)."""
        for number in range(1, limit + 1):
            results = await self.cycle()
            if all(r.ok and r.plan is not None and not r.plan.actions for r in results):
                return number
        return limit + 1

    def state(self) -> Canonical:
        return self.rig.canonical()

    async def clear_faults(self) -> None:
        self.rig.planon.faults.clear()
        self.rig.graph.state.traffic.faults.clear()


@contextlib.asynccontextmanager
async def world(directory: Path, **manifest_options: Any) -> AsyncIterator[World]:
    """Rig + runners, the baseline booked and synced (see :mod:`tests.reliability.scenario`)."""
    async with Rig.started() as rig:
        path = rig.write_manifests(directory, **manifest_options)
        bundle = load_bundle([path])
        assert bundle.ok, bundle.problems
        pool = ClientPool()
        try:
            runners, problems = await open_runners(bundle, pool, allow_mass_delete=False)
            assert not problems, problems
            day = workday()
            await scenario.baseline(rig, day)
            here = World(rig, pool, runners, day)
            assert await here.converge() <= 2
            yield here
        finally:
            await pool.aclose()
