"""The newcomer's trial, as the README tells it: ``roomsync sandbox`` starts with a day of bookings on both sides and
says how to try it; plan, sync, book one on each side with the commands it printed, sync, and ``sandbox show``
shows each new booking on both sides. Run as real processes, for every calendar backend the sandbox plays (CalDAV
is a real Radicale); SIGTERM stops everything it started."""

from __future__ import annotations

import os
import shlex
import signal
import time
from pathlib import Path

import pytest
import yaml

from tests.cli.readme import assert_readme_sample_is_true, readme_trial_commands
from tests.reliability import cli


def started(process: cli.CliProcess, seconds: float = 90) -> str:
    """The manifests ``roomsync sandbox`` printed, once it has printed all of them."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.err.exists() and "Ctrl-C stops" in process.err.read_text(errors="replace"):
            text = process.out.read_text()
            docs = [d for d in yaml.safe_load_all(text) if d]
            if sum(1 for d in docs if d["kind"] == "RoomSync") >= 2:
                return text
        assert process.poll() is None, "the sandbox ended before it started"
        time.sleep(0.1)
    raise AssertionError(f"the sandbox did not start in {seconds} s:\n{process.err.read_text(errors='replace')}")


def row(table: str, subject: str) -> str:
    return next(line for line in table.splitlines() if subject in line)


@pytest.mark.parametrize("calendar", ["graph", "google", "caldav"])
def test_the_trial_ends_in_visible_changes_on_both_sides(tmp_path: Path, calendar: str) -> None:
    sandbox = cli.CliProcess(["sandbox", "--calendar", calendar])
    try:
        manifests = tmp_path / "sandbox.yaml"
        manifests.write_text(started(sandbox))
        intro = sandbox.err.read_text()
        assert "People booked" in intro and "(not synced)" in intro
        assert intro.count("admin page: http") == 2
        # every command it prints works as printed, on the file its stdout went to (`roomsync sandbox > FILE`)
        commands = [line.split("#")[0].strip() for line in intro.splitlines() if line.startswith("  roomsync ")]
        assert len(commands) == 7 and all(f"-f {sandbox.out} " in c + " " for c in commands), intro
        plan, sync, show_all, *books, sync_again, show_rooms = commands
        if calendar == "graph":  # the README's trial is what the sandbox tells a person to type
            printed = {" ".join(c.replace(str(sandbox.out), "sandbox.yaml").split()) for c in commands}
            readme = [" ".join(c.split()) for c in readme_trial_commands()]
            assert len(readme) >= 6 and set(readme) <= printed, (readme, printed)
        assert [shlex.split(b)[5] for b in books] == ["planon", "calendar"], intro

        def run(command: str) -> cli.Completed:
            return cli.run(shlex.split(command)[1:])

        planned = run(plan)
        assert planned.code == 2 and "new in Planon" in planned.stdout and "new in Calendar" in planned.stdout
        assert run(sync).code == 0
        assert "Sprint planning" in run(show_all).stdout
        for book in books:
            booked = run(book)
            assert booked.code == 0, booked.output
            assert "does not have it yet: run  roomsync sync --once" in booked.stdout
        synced = run(sync_again)
        assert synced.code == 0, synced.output
        assert "Retro" in row(synced.stdout, "Retro") and "Calendar" in row(synced.stdout, "Retro")
        assert "Planon" in row(synced.stdout, "Coffee chat")
        planon_room, calendar_room = (shlex.split(b)[6] for b in books)
        assert show_rooms.endswith(f" {planon_room} {calendar_room}"), show_rooms
        shown = run(show_rooms)
        assert shown.code == 0, shown.output
        assert row(shown.stdout, "Retro").count("Retro") == 2  # in Planon and in the room calendar
        assert row(shown.stdout, "Coffee chat").count("Coffee chat") == 2
        if calendar == "graph":  # the README shows this run's last command
            assert_readme_sample_is_true("Tuesday", shown.stdout)
    finally:
        os.kill(sandbox.pid, signal.SIGTERM)
        stopped = sandbox.wait(30)
    assert stopped.code == 143 and "stopped (SIGTERM)" in stopped.stderr and "Traceback" not in stopped.stderr
    # everything it started has stopped (Radicale too): the printed manifests now point at nothing
    stale = cli.run(["sandbox", "book", "-f", str(manifests), "planon", planon_room, "10:00-11:00", "Late"])
    assert stale.code == 1 and "the sandbox does not answer (connection refused)" in stale.stderr
    assert "is `roomsync sandbox` still running?" in stale.stderr and "Traceback" not in stale.stderr
