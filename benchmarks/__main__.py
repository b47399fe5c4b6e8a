"""``python -m benchmarks [--quick] [--only NAME] [--json PATH]``: run, show progress, write results, judge targets.

Exit status 0 when every target is met, 1 when one is missed or a benchmark failed.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import time
import traceback
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchmarks import caldav, engine, ews_path, footprint, google_path, latency, notify, report, sync_path
from benchmarks.core import Context, Result

RESULTS = Path(__file__).resolve().parent / "results"
#: name -> (module, steps for the progress bar, result keys it produces)
BENCHMARKS = {
    "engine": (engine, 3, ["engine"]),
    "sync": (sync_path, 3, ["initial", "steady", "batch", "propagation"]),
    "ews": (ews_path, 3, ["ews-initial", "ews-steady", "ews-propagation"]),
    "google": (google_path, 3, ["google-initial", "google-steady", "google-propagation"]),
    "latency": (latency, 1, ["latency"]),
    "notify": (notify, 1, ["notify"]),
    "footprint": (footprint, 1, ["footprint"]),
    "caldav": (caldav, 2, ["caldav-steady", "caldav-propagation"]),
}
ALIASES = {
    "initial": "sync",
    "steady": "sync",
    "batch": "sync",
    "propagation": "sync",
    "ews-initial": "ews",
    "ews-steady": "ews",
    "ews-propagation": "ews",
}


async def _run(names: list[str], quick: bool, console: Console) -> list[Result]:
    results: list[Result] = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("starting", total=sum(BENCHMARKS[n][1] for n in names))
        ctx = Context(quick=quick, progress=progress, task=task)
        for name in names:
            module, _, keys = BENCHMARKS[name]
            clock = time.perf_counter()
            try:
                produced = await module.run(ctx)
            except Exception as error:  # one broken benchmark must not hide the others
                console.print(traceback.format_exc())
                produced = [Result(key, key, error=f"{type(error).__name__}: {error}") for key in keys]
            produced = produced if isinstance(produced, list) else [produced]
            for result in produced:
                result.seconds = time.perf_counter() - clock
                mark = "[green]ok[/green]" if result.ok else "[red]MISSED[/red]"
                progress.console.print(f"{mark} {result.title}")
            results += produced
        progress.update(task, description="done")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (< 60 s); still checks every target")
    parser.add_argument("--only", action="append", choices=[*BENCHMARKS, *ALIASES], help="run only this (repeatable)")
    parser.add_argument("--json", type=Path, default=None, help=f"also write the results here (always: {RESULTS}/)")
    args = parser.parse_args(argv)
    names = list(dict.fromkeys(ALIASES.get(n, n) for n in (args.only or BENCHMARKS)))
    console = Console(stderr=True)
    command = "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
    clock = time.perf_counter()
    results = asyncio.run(_run(names, args.quick, console))
    data = report.as_json(results, command.strip(), args.quick)
    data["seconds"] = round(time.perf_counter() - clock, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    report.write_json(data, RESULTS / "latest.json")
    text = report.markdown(data)
    (RESULTS / "latest.md").write_text(text + "\n")
    if args.json is not None:
        report.write_json(data, args.json)
    table = Table(title=f"RoomSync benchmarks ({'quick' if args.quick else 'full'}, {data['seconds']} s)")
    for column in ("#", "target", "measured", "ok"):
        table.add_column(column)
    for result in results:
        if result.error:
            table.add_row(result.key, result.title, f"error: {result.error}", "[red]no[/red]")
        for check in result.checks:
            table.add_row(result.key, check.name, check.text(), "[green]yes[/green]" if check.ok else "[red]no[/red]")
    console.print(table)
    console.print(f"results: {RESULTS / 'latest.json'} and {RESULTS / 'latest.md'}")
    return 0 if data["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
