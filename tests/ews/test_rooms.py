"""Room discovery: GetRoomLists and GetRooms through exchangelib, and ``roomsync rooms --connection FILE`` for an
EWS Connection."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from roomsync.cli.main import main
from roomsync.sandbox.ews import ExchangeSandbox
from tests.ews.conftest import R1, R2, R3, ClientFactory


async def test_rooms_lists_every_room_of_every_room_list_once(
    exchange: ExchangeSandbox, make_client: ClientFactory
) -> None:
    await exchange.admin.set_room_lists(
        [
            {"address": "rooms-floor1@corp.example", "name": "Floor 1", "members": [R1, R2]},
            {"address": "rooms-quiet@corp.example", "name": "Quiet rooms", "members": [R2, R3]},
        ]
    )
    client = make_client()
    rooms = await client.rooms()
    assert [(r.key, r.name, r.building) for r in rooms] == [
        (R1, "Room 1", "Floor 1"),
        (R2, "Room 2", "Floor 1"),
        (R3, "Room 3", "Quiet rooms"),
    ]
    operations = [e["operation"] for e in await exchange.admin.ews_log() if e["status"] == 200]
    assert operations == ["GetRoomLists", "GetRooms", "GetRooms"]
    assert client.requests.total("") == len(await exchange.admin.ews_log())  # directory requests: no mailbox


async def test_roomsync_rooms_works_for_an_ews_connection(
    exchange: ExchangeSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, secrets = exchange.ews_connection_spec(auth="basic")
    documents = [
        {
            "apiVersion": "roomsync.io/v1alpha1",
            "kind": "Connection",
            "metadata": {"name": "on-premises", "namespace": "facilities"},
            "spec": {"ews": spec},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "ews-sandbox", "namespace": "facilities"},
            "stringData": {key: value for (_, key), value in secrets.items()},
        },
    ]
    path = tmp_path / "connection.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    assert await asyncio.to_thread(main, ["rooms", "--connection", str(path), "-o", "json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)["connections"]
    assert (listed["backend"], listed["error"]) == ("ews", None)
    assert [room["email"] for room in listed["rooms"]] == [R1, R2, R3]
