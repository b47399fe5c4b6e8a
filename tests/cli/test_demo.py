"""``roomsync demo`` is the first thing a newcomer runs: it must work, converge and say what happened."""

from __future__ import annotations

import time

import pytest

from roomsync.cli.main import main
from tests.cli.readme import assert_readme_sample_is_true


def test_demo_runs_converges_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    code = main(["demo"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert time.perf_counter() - started < 60  # the budget is 30 s on a quiet machine; CI shares its 2 cores
    assert "both sides agree - nothing to do (steady state)" in out
    assert "Quarterly results" in out and "Customer workshop" in out
    assert "kind: RoomSync" in out and "reason: Synced" in out
    assert "Budget pre-read" in out  # the refused request is shown with Planon's reason
    assert "cycle 1 - floor-4-on-premises" in out and "Floor 4 retrospective" in out  # the floor reached through EWS
    assert_readme_sample_is_true("──", out)
