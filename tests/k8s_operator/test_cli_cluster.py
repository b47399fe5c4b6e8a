"""``roomsync status|reconcile|suspend|resume`` against the Kubernetes emulator, with the real operator answering."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from roomsync.cli.main import main
from roomsync.model import Side
from tests.helpers import booking
from tests.k8s_operator import memory_backend
from tests.k8s_operator.conftest import (
    NS,
    PLANON_URL,
    ROOMSYNCS,
    condition,
    create,
    eventually,
    operator,
    roomsync,
    setup_connections,
)


def kubeconfig(tmp_path: Path, server: str) -> str:
    path = tmp_path / "kubeconfig"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": "not-checked"}}],
        "contexts": [
            {"name": "other", "context": {"cluster": "emulator", "user": "tester", "namespace": "nobody"}},
            {"name": "rooms", "context": {"cluster": "emulator", "user": "tester", "namespace": NS}},
        ],
        "current-context": "other",
    }
    path.write_text(yaml.safe_dump(config))
    return str(path)


async def cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_status_reconcile_suspend_resume(api, tmp_path, capsys):
    planon = memory_backend.system(PLANON_URL, Side.PLANON)
    planon.put(booking("p-1", 9, subject="Budget review", rooms=("MR-1",)))
    await setup_connections(api)
    flags = ["--kubeconfig", kubeconfig(tmp_path, str(api.url).rstrip("/")), "--context", "rooms"]
    async with operator(api):
        await create(api, ROOMSYNCS, roomsync())
        await eventually(lambda: (c := condition(api.read(ROOMSYNCS, NS, "hq"))) and c["status"] == "True", 10, 0.05)
        capsys.readouterr()

        assert await cli("status", *flags) == 0
        table = capsys.readouterr().out
        assert "hq" in table and "Sync" in table and "Synced" in table and "exchange" in table

        assert await cli("status", "hq", *flags, "-o", "json") == 0
        shown = json.loads(capsys.readouterr().out)
        (view,) = shown["roomsyncs"]
        assert view["name"] == "hq" and view["mode"] == "Sync" and view["ready"] == "True"
        assert [r["planon"] for r in view["rooms"]] == ["MR-1", "MR-2"]
        assert {c["name"] for c in shown["connections"]} == {"planon", "exchange"}

        # reconcile: a cycle now, waited for, with the new booking synced by the time it returns
        planon.put(booking("p-2", 11, subject="Walk-in", rooms=("MR-2",)))
        assert await cli("reconcile", "hq", *flags, "--timeout", "20") == 0
        out = capsys.readouterr()
        assert "Ready True (Synced)" in out.out
        requested = api.read(ROOMSYNCS, NS, "hq")["metadata"]["annotations"]["roomsync.io/sync-requested-at"]
        assert api.read(ROOMSYNCS, NS, "hq")["status"]["lastHandledRequestedAt"] == requested
        assert "Walk-in" in {b.subject for b in memory_backend.system("contoso.test", Side.CALENDAR).live()}

        assert await cli("suspend", "hq", *flags) == 0
        assert api.read(ROOMSYNCS, NS, "hq")["spec"]["suspend"] is True
        await eventually(lambda: api.read(ROOMSYNCS, NS, "hq")["status"].get("mode") == "Suspended", 10, 0.05)
        assert await cli("reconcile", "hq", *flags) == 1  # refused: resume first
        assert "suspended" in capsys.readouterr().err

        assert await cli("resume", "hq", *flags, "--timeout", "20") == 0
        body: dict[str, Any] = api.read(ROOMSYNCS, NS, "hq")
        assert body["spec"]["suspend"] is False and body["status"]["mode"] == "Sync"

        assert await cli("status", "nope", *flags) == 1
        assert "not found" in capsys.readouterr().err


async def test_unknown_context_is_a_clear_error(api, tmp_path, capsys):
    path = kubeconfig(tmp_path, str(api.url).rstrip("/"))
    assert await cli("status", "--kubeconfig", path, "--context", "prod") == 1
    err = capsys.readouterr().err
    assert "context 'prod'" in err and "other, rooms" in err


@pytest.mark.parametrize("command", ["reconcile", "suspend", "resume"])
async def test_a_missing_roomsync_is_named(api, tmp_path, capsys, command):
    flags = ["--kubeconfig", kubeconfig(tmp_path, str(api.url).rstrip("/")), "-n", "elsewhere"]
    assert await cli(command, "ghost", *flags) == 1
    assert "RoomSync elsewhere/ghost not found" in capsys.readouterr().err
