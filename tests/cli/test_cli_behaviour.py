"""What a person at the terminal sees: exit codes, usage errors, what ``plan``/``sync`` print, and a continuous
``sync`` that follows its files and stops cleanly on SIGTERM (as a real process, against the sandboxes)."""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from roomsync.cli.main import main
from roomsync.sandbox.building import workday
from tests.reliability import cli, scenario
from tests.reliability.rig import threaded_rig


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["frobnicate"], "invalid choice"),
        (["sync", "-f", "x.yaml", "--onc"], "unrecognized arguments: --onc"),
        (["plan", "--filename"], "expected one argument"),
        (["validate"], "required"),
    ],
)
def test_a_usage_error_exits_1_never_2(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 1  # 2 means "changes pending" for plan
    assert needle in capsys.readouterr().err


def test_long_options_are_never_prefix_matched(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["run", "--namesp", "hr"])
    assert done.value.code == 1 and "--namesp" in capsys.readouterr().err


def _wait_for(path: Path, needle: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if needle in text:
            return text
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} not printed within {seconds}s; got:\n{path.read_text(errors='replace')}")


def test_plan_shows_when_and_sync_once_reports_what_it_wrote(tmp_path: Path) -> None:
    with threaded_rig() as threaded:
        rig = threaded.rig
        threaded.call(scenario.baseline(rig, workday()))
        manifests = rig.write_manifests(tmp_path)
        planned = cli.run(["plan", "-f", str(manifests)])
        assert planned.code == 2, planned.output
        assert "When" in planned.stdout  # the column; its cells wrap at the terminal's width, so check the JSON
        assert "ChangesPending - dry run:" in planned.stdout and "Synced - dry run" not in planned.stdout
        as_json = cli.run(["plan", "-f", str(manifests), "-o", "json"])
        actions = [a for r in json.loads(as_json.stdout) for a in r["actions"]]
        assert actions and all(a["start"] and a["end"] and a["start"] < a["end"] for a in actions)
        synced = cli.run(["sync", "--once", "-f", str(manifests)])
        assert synced.code == 0, synced.output
        assert "change(s) written; both sides now agree" in synced.stdout
        assert "Synced - both sides agree" not in synced.stdout.split("Actions")[0]
        again = cli.run(["plan", "-f", str(manifests)])
        assert again.code == 0 and "both sides agree" in again.stdout


def test_continuous_sync_stamps_cycles_follows_a_rotated_secret_and_stops_on_sigterm(tmp_path: Path) -> None:
    with threaded_rig() as threaded:
        rig = threaded.rig
        manifests = rig.write_manifests(tmp_path, roomsync_extra={"interval": "2s"})
        process = cli.CliProcess(["sync", "-f", str(manifests)])
        try:
            first = _wait_for(process.out, "Synced")
            assert any(line[:4].isdigit() and line[10] == " " for line in first.splitlines()), first  # time stamp
            # a person rotates the Planon access key in the file (to a value Planon does not know)
            wrong = replace(rig.credentials, planon_access_key="pk-rotated-but-wrong")
            rig.write_manifests(tmp_path, roomsync_extra={"interval": "2s"}, credentials=wrong)
            _wait_for(process.err, "changed; reconnecting")
            _wait_for(process.out, "AuthenticationFailed")
            # and back: the next cycle works again without a restart
            rig.write_manifests(tmp_path, roomsync_extra={"interval": "2s"}, credentials=rig.credentials)
            text = process.out.read_text()
            count = text.count("Synced")
            deadline = time.monotonic() + 60
            while process.out.read_text().count("Synced") <= count and time.monotonic() < deadline:
                time.sleep(0.05)
            assert process.out.read_text().count("Synced") > count
        finally:
            os.kill(process.pid, signal.SIGTERM)
            done = process.wait(30)
        assert done.code == 143, done.output
        assert "stopped (SIGTERM)" in done.stderr
        assert "Traceback" not in done.output


def test_run_without_a_cluster_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    assert main(["run", "-n", "hr"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Kubernetes credentials" in err and "missing-kubeconfig" in err
    assert "Traceback" not in err


def test_every_roomsync_command_in_the_docs_parses() -> None:
    """Docs that match the code: each ``roomsync ...`` line in a console block of the docs is accepted by the CLI."""
    import re
    import shlex

    from roomsync.cli.main import build_parser

    root = Path(__file__).resolve().parents[2]
    commands = []
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for block in re.findall(r"```(?:console|sh|bash|text)?\n(.*?)```", page.read_text(), re.S):
            for line in block.splitlines():
                line = line.split("#", 1)[0].strip().removeprefix("$ ")
                synopsis = any(mark in line for mark in ("<", "...", "…", "[", "|"))  # a usage line, not a command
                if line.startswith("roomsync ") and not synopsis:
                    commands.append((page.name, line))
    assert len(commands) >= 5, commands
    parser = build_parser()
    for page, line in commands:
        try:
            parser.parse_args(shlex.split(line)[1:])
        except SystemExit as refused:
            raise AssertionError(f"{page}: `{line}` is refused by the CLI") from refused
