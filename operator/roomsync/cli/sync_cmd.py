"""``roomsync plan`` and ``roomsync sync``: the operator's cycle, driven from manifests on disk."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from roomsync.cli import output
from roomsync.config.bundle import Bundle
from roomsync.connectors.base import BackendError
from roomsync.connectors.registry import SecretNotFound, UnsupportedBackend
from roomsync.sync.cycle import CycleResult
from roomsync.sync.runner import ClientPool, RoomSyncRunner

log = logging.getLogger(__name__)

EXIT_OK, EXIT_INVALID, EXIT_PENDING, EXIT_FAILED = 0, 1, 2, 3


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
        active = [r for r in runners if not r.config.suspend]
        for runner in runners:
            if runner.config.suspend:
                output.errors.print(f"{runner.config.key}: suspended (spec.suspend); skipped")
        if not write or once:
            results = await _cycle_all(active, clock, dry_run=None if write else True, json_output=json_output)
            return _exit_code(results, plan_only=not write)
        await asyncio.gather(*(_forever(r, clock, json_output) for r in active))
        return EXIT_OK
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


async def _forever(runner: RoomSyncRunner, clock: Callable[[], datetime], json_output: bool) -> None:
    while True:
        result = await runner.cycle(clock())
        if json_output:
            output.emit_json(output.result_json(result))
        else:
            output.result_summary(result)
        await asyncio.sleep(runner.config.interval.total_seconds())


def _exit_code(results: list[CycleResult], *, plan_only: bool) -> int:
    if any(not r.ok for r in results):
        return EXIT_FAILED
    if plan_only and any(r.plan is not None and r.plan.actions for r in results):
        return EXIT_PENDING
    return EXIT_OK
