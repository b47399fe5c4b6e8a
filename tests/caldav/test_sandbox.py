"""``roomsync sandbox --calendar caldav`` as a user runs it: a real Radicale, manifests on stdout that work."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from roomsync.cli.main import main
from roomsync.config.bundle import load_bundle
from roomsync.sandbox.building import ONLINE_ROOMS as ROOMS
from roomsync.sandbox.building import workday
from roomsync.sandbox.caldav import RadicaleServer
from roomsync.sandbox.caldav.people import People

ROOMSYNC = Path(sys.executable).with_name("roomsync")
STARTUP_SECONDS = 30


@pytest.fixture
def sandbox_manifests(tmp_path: Path) -> Iterator[Path]:
    process = subprocess.Popen(
        [str(ROOMSYNC), "sandbox", "--calendar", "caldav"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:  # the manifests end with the second RoomSync's window
            line = process.stdout.readline()
            assert line, "roomsync sandbox exited before printing its manifests"
            lines.append(line)
            if "name: amsterdam-follows" in "".join(lines) and line.strip().startswith("future:"):
                break
        path = tmp_path / "sandbox.yaml"
        path.write_text("".join(lines))
        yield path
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_the_caldav_sandbox_prints_manifests_that_sync_a_booking_made_in_a_calendar_client(
    sandbox_manifests: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = load_bundle([sandbox_manifests])
    assert bundle.ok, bundle.problems
    [connection] = [c for c in bundle.connections.values() if "caldav" in c["spec"]]
    spec = connection["spec"]["caldav"]
    assert [c["room"] for c in spec["calendars"]] == [r.mailbox for r in ROOMS]
    assert {r.key: r.calendar_connection for r in bundle.roomsyncs} == {
        "facilities/boardroom-in-the-lead": "rooms-caldav",
        "facilities/amsterdam-follows": "rooms-caldav",
    }

    # Ben books a following room from his CalDAV client: he writes the event into the room's calendar
    server = RadicaleServer.attach(spec["url"], {"ben": "ben-demo"})
    room = next(r for r in ROOMS if not r.leads)
    people = People(server, {room.mailbox: next(c["url"] for c in spec["calendars"] if c["room"] == room.mailbox)})
    day = workday()
    people.book(
        "ben@contoso.example", [room.mailbox], "Booked in Thunderbird", day.replace(hour=10), day.replace(hour=11)
    )

    capsys.readouterr()
    assert main(["plan", "-f", str(sandbox_manifests)]) == 2  # pending: Planon does not hold it yet
    assert "Booked in Thunderbird" in capsys.readouterr().out
    assert main(["sync", "--once", "-f", str(sandbox_manifests)]) == 0
    assert main(["plan", "-f", str(sandbox_manifests)]) == 0, capsys.readouterr().out  # both sides agree
    calendar_only = sandbox_manifests.with_name("calendar.yaml")  # the CalDAV Connection and its Secret
    docs = [d for d in yaml.safe_load_all(sandbox_manifests.read_text()) if "caldav" in str(d)]
    calendar_only.write_text(yaml.safe_dump_all(docs))
    capsys.readouterr()
    assert main(["rooms", "--connection", str(calendar_only), "-o", "json"]) == 0
    listed = capsys.readouterr().out
    assert all(room.mailbox in listed for room in ROOMS)  # the room calendars, as Client.rooms() lists them
