"""``roomsync plan`` and ``roomsync sync``: the operator's cycle, driven from manifests on disk.

A continuous ``sync`` reads its files again before every cycle, as the operator watches its objects: a rotated
Secret or an edited RoomSync takes effect on the next cycle (a runner is only reopened when its inputs changed, so
incremental state survives). SIGTERM stops it as Ctrl-C does: the cycle in flight is cancelled, connections are
closed, and the exit code says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from roomsync.cli import output
from roomsync.config.bundle import Bundle, load_bundle
from roomsync.config.roomsync import RoomSyncConfig
from roomsync.connectors.base import BackendError, SecretNotFound
from roomsync.connectors.registry import UnsupportedBackend
from roomsync.sync.cadence import Cadence
from roomsync.sync.cycle import CycleResult
from roomsync.sync.runner import ClientPool, RoomSyncRunner

log = logging.getLogger(__name__)

EXIT_OK, EXIT_INVALID, EXIT_PENDING, EXIT_FAILED = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


def utcnow() -> datetime:
    return datetime.now(UTC)


async def open_runners(
    bundle: Bundle, pool: ClientPool, *, allow_mass_delete: bool
) -> tuple[list[RoomSyncRunner], list[str]]:
    runners, problems = [], []
    for config, inputs in await bundle.resolve():
        if allow_mass_delete:
            config = replace(config, policy=replace(config.policy, allow_mass_delete=True))
        try:
            runners.append(await RoomSyncRunner.open(config, pool, inputs))
        except (SecretNotFound, BackendError, UnsupportedBackend, ValueError) as error:
            problems.append(f"{config.key}: {error}")
    return runners, problems


async def plan_or_sync(
    bundle: Bundle,
    *,
    write: bool,
    once: bool,
    allow_mass_delete: bool,
    json_output: bool,
    paths: Sequence[str | Path] = (),
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Run one cycle per RoomSync (``write=False``: dry run), or keep cycling every ``spec.interval``."""
    pool = ClientPool()
    try:
        runners, problems = await open_runners(bundle, pool, allow_mass_delete=allow_mass_delete)
        for problem in problems:
            output.errors.print(f"[red]error[/red] {problem}")
        if problems:
            return EXIT_INVALID
        for runner in runners:
            if runner.config.suspend:
                output.errors.print(f"{runner.config.key}: suspended (spec.suspend); skipped")
        active = [r for r in runners if not r.config.suspend]
        if not write or once:
            results = await _cycle_all(active, clock, dry_run=None if write else True, json_output=json_output)
            return _exit_code(results, plan_only=not write)
        loop = Loop(pool, paths, allow_mass_delete, json_output, clock, {r.config.key: r for r in runners})
        return await loop.run()
    finally:
        await pool.aclose()


async def _cycle_all(
    runners: list[RoomSyncRunner], clock: Callable[[], datetime], *, dry_run: bool | None, json_output: bool
) -> list[CycleResult]:
    with output.errors.status(f"syncing {len(runners)} RoomSync(s)...", spinner="dots"):
        results = await asyncio.gather(*(r.cycle(clock(), dry_run=dry_run) for r in runners))
    if json_output:
        output.emit_json([output.result_json(r) for r in results])
    else:
        for result in results:
            output.result_summary(result)
    return list(results)


@dataclass
class Loop:
    """``roomsync sync`` without ``--once``: every RoomSync on its own interval, the files read before each cycle."""

    pool: ClientPool
    paths: Sequence[str | Path]
    allow_mass_delete: bool
    json_output: bool
    clock: Callable[[], datetime]
    runners: dict[str, RoomSyncRunner]
    inputs_seen: dict[str, str] = field(default_factory=dict)

    async def run(self) -> int:
        stop = asyncio.Event()
        reason: list[int] = []

        def stopping(code: int) -> None:
            reason.append(code)
            stop.set()

        loop = asyncio.get_running_loop()
        for signum, code in ((signal.SIGTERM, EXIT_TERMINATED), (signal.SIGINT, EXIT_INTERRUPTED)):
            loop.add_signal_handler(signum, stopping, code)
        tasks = [asyncio.create_task(self._forever(key)) for key in sorted(self.runners)]
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            for task in (stopped, *tasks):
                task.cancel()
            for task in (stopped, *tasks):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if reason:
            output.errors.print("stopped" + (" (SIGTERM)" if reason[0] == EXIT_TERMINATED else ""))
            return reason[0]
        return EXIT_OK

    async def _forever(self, key: str) -> None:
        while True:
            runner = await self._current(key)
            if runner is None:
                await asyncio.sleep(60)  # the files are broken or no longer hold it: look again later
                continue
            cadence = Cadence()
            if not runner.config.suspend:
                await self._cycle(runner)
            await asyncio.sleep(cadence.remaining(runner.config.interval.total_seconds()))

    async def _cycle(self, runner: RoomSyncRunner) -> None:
        """One cycle, printed; its result (a first sync's plan and outcomes) is not held through the sleep."""
        result = await runner.cycle(self.clock())
        if self.json_output:
            output.emit_json(output.result_json(result))
        else:
            output.result_summary(result, when=self.clock())

    async def _current(self, key: str) -> RoomSyncRunner | None:
        """The runner for ``key`` as the files say now: reopened when its spec, Connections or Secrets changed."""
        if not self.paths:
            return self.runners.get(key)
        bundle = load_bundle(self.paths)
        ready = {config.key: (config, inputs) for config, inputs in await bundle.resolve()}
        if key not in ready:
            problems = [str(p) for p in bundle.problems] or [f"{key} is no longer in the files"]
            for problem in problems:
                output.errors.print(f"[red]error[/red] {problem}")
            return None
        config, inputs = ready[key]
        config = self._policy(config)
        current = self.runners.get(key)
        if current is None or current.config != config or self.inputs_seen.get(key) != inputs.fingerprint:
            if current is not None and key in self.inputs_seen:
                output.errors.print(f"{key}: its manifests or Secrets changed; reconnecting")
            try:
                current = self.runners[key] = await RoomSyncRunner.open(config, self.pool, inputs)
            except (SecretNotFound, BackendError, UnsupportedBackend, ValueError) as error:
                output.errors.print(f"[red]error[/red] {key}: {error}")
                return None
            self.inputs_seen[key] = inputs.fingerprint
        return current

    def _policy(self, config: RoomSyncConfig) -> RoomSyncConfig:
        if not self.allow_mass_delete:
            return config
        return replace(config, policy=replace(config.policy, allow_mass_delete=True))


def _exit_code(results: list[CycleResult], *, plan_only: bool) -> int:
    if any(not r.ok for r in results):
        return EXIT_FAILED
    if plan_only and any(r.plan is not None and r.plan.actions for r in results):
        return EXIT_PENDING
    return EXIT_OK
