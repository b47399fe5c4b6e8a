"""``roomsync rooms``: every Connection lists its rooms through the port, and the pairs it can match are suggested."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from roomsync.cli.main import main
from roomsync.cli.rooms_cmd import Listed, suggest_pairs
from roomsync.cli.sandbox_cmd import running_sandboxes
from roomsync.connectors.base import RoomInfo


async def test_rooms_lists_planon_units_and_room_mailboxes_and_suggests_pairs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_sandboxes() as boxes:
        manifests = [d for d in boxes.manifests() if d["kind"] in ("Connection", "Secret")]
        path = tmp_path / "connections.yaml"
        path.write_text(yaml.safe_dump_all(manifests, sort_keys=False))
        code = await asyncio.to_thread(main, ["rooms", "--connection", str(path), "-o", "json"])
    assert code == 0
    listed = json.loads(capsys.readouterr().out)
    backends = {c["backend"]: c for c in listed["connections"]}
    assert set(backends) == {"planon", "graph", "ews"}  # the on-premise floor's Connection lists its room lists
    planon_keys = {r["key"] for r in backends["planon"]["rooms"]}
    graph_keys = {r["key"] for r in backends["graph"]["rooms"]} | {r["key"] for r in backends["ews"]["rooms"]}
    assert planon_keys and graph_keys and backends["ews"]["error"] is None
    pairs = {(p["planon"], p["calendar"]) for p in listed["suggestedRooms"]}
    assert pairs and all(p in planon_keys and c in graph_keys for p, c in pairs)


def test_pairs_are_matched_by_email_first_then_by_an_unambiguous_code() -> None:
    planon = Listed(
        "ns/planon",
        "planon",
        (
            RoomInfo("AMS-1.01", "Focus", email="room101@contoso.com"),
            RoomInfo("AMS-2.01", "Boardroom"),
            RoomInfo("AMS-3.01", "Nowhere"),
        ),
    )
    calendar = Listed(
        "ns/exchange",
        "graph",
        (
            RoomInfo("room101@contoso.com", "Room 1.01", email="room101@contoso.com"),
            RoomInfo("ams-2.01@contoso.com", "Boardroom 2.01", email="ams-2.01@contoso.com"),
            RoomInfo("ams-2.01-annex@contoso.com", "Annex", email="ams-2.01-annex@contoso.com"),
        ),
    )
    assert suggest_pairs([planon, calendar]) == [
        ("AMS-1.01", "room101@contoso.com"),
        ("AMS-2.01", "ams-2.01@contoso.com"),
    ]
