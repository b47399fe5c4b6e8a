"""What a cluster sees of the operator process: probes, metrics, and ``roomsync run`` logging in via a kubeconfig."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from roomsync.cli.main import build_parser
from roomsync.k8s.main import Operator, run_operator
from roomsync.k8s.options import OperatorOptions
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

pytestmark = [pytest.mark.looptime]


async def fetch(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


async def test_probes_and_metrics(api):
    memory_backend.system(PLANON_URL, Side.PLANON).put(booking("p-1", 9, rooms=("MR-1",)))
    await setup_connections(api)
    async with operator(api) as running:
        health, metrics = running.servers.ports["health"], running.servers.ports["metrics"]
        assert await fetch(health, "/healthz") == (200, "ok\n")
        assert await fetch(health, "/readyz") == (200, "ready\n")
        await create(api, ROOMSYNCS, roomsync())
        await eventually(lambda: (c := condition(api.read(ROOMSYNCS, NS, "hq"))) and c["status"] == "True")
        status, text = await fetch(metrics, "/metrics")
    assert status == 200
    found = samples(text)
    hq = {"namespace": "facilities", "name": "hq"}
    assert found[("roomsync_cycles_total", key(hq, result="Synced"))] == 1
    assert found[("roomsync_ready", key(hq))] == 1
    assert found[("roomsync_bookings", key(hq, side="planon"))] == 1
    assert found[("roomsync_bookings", key(hq, side="calendar"))] == 0  # read before the create
    assert found[("roomsync_actions_total", key(hq, kind="create", outcome="ok"))] == 1
    assert found[("roomsync_cycle_duration_seconds_count", key(hq))] == 1
    assert found[("roomsync_last_sync_timestamp_seconds", key(hq))] > 0
    memory = {"backend": "memory"}
    assert found[("roomsync_backend_requests_total", key(memory, operation="read", status="200"))] == 2
    assert found[("roomsync_backend_requests_total", key(memory, operation="create", status="200"))] == 1


def key(labels: dict[str, str], **more: str) -> frozenset[tuple[str, str]]:
    return frozenset({**labels, **more}.items())


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_readyz_is_unavailable_before_kopf_is_ready(api):
    async def login_never_answers(**_: object) -> None:
        await asyncio.Event().wait()

    options = OperatorOptions(host="127.0.0.1", health_port=0, metrics_port=None)
    stopped = Operator(options, login=login_never_answers)
    await stopped.start()
    try:
        port = stopped.servers.ports["health"]
        assert "metrics" not in stopped.servers.ports
        assert (await fetch(port, "/readyz"))[0] == 503
        assert (await fetch(port, "/healthz"))[0] == 200
    finally:
        await stopped.stop()


async def test_operator_logs_in_with_the_current_kubeconfig(api, tmp_path, monkeypatch):
    """``roomsync run`` uses kopf's standard logins; here the kubeconfig points at the emulated API server."""
    server = str(api.url).rstrip("/")
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {"server": server}}],
        "users": [{"name": "test", "user": {"token": "t0ken"}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": NS}}],
        "current-context": "test",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    await setup_connections(api)
    async with Operator(OperatorOptions(host="127.0.0.1", health_port=None, metrics_port=None)):
        await create(api, ROOMSYNCS, roomsync())
        await eventually(lambda: (c := condition(api.read(ROOMSYNCS, NS, "hq"))) and c["status"] == "True")
    authorised = [r for r in api._requests if r.headers.get("Authorization") == "Bearer t0ken"]
    assert authorised


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--namespace", "a", "--all-namespaces"],
        ["run", "--shard-leases", "roomsync", "--standalone"],
        ["run", "--peering", "roomsync"],
        ["run", "--metrics-port", "70000"],
    ],
)
def test_contradicting_flags_exit_1(argv, capsys):
    args: argparse.Namespace = build_parser().parse_args(argv)
    assert run_operator(args) == 1
    assert "roomsync run:" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.looptime(False)
async def test_roomsync_run_serves_a_cluster_from_the_kubeconfig_and_stops_on_sigterm(api, tmp_path):
    """The command as a Deployment runs it: a separate process, the kubeconfig, probes, SIGTERM."""
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {"server": str(api.url).rstrip("/")}}],
        "users": [{"name": "test", "user": {"token": "t0ken"}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
        "current-context": "test",
    }
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "kubeconfig")}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    port = free_port()
    command = [sys.executable, "-m", "roomsync.cli.main", "run", "--health-port", str(port), "--metrics-port", "0"]
    process = await asyncio.create_subprocess_exec(*command, env=env, stderr=asyncio.subprocess.PIPE)
    try:
        for _ in range(100):
            with contextlib.suppress(aiohttp.ClientError):
                if (await fetch(port, "/readyz"))[0] == 200:
                    break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("roomsync run never became ready")
        watching = "/apis/roomsync.io/v1alpha1/roomsyncs"
        for _ in range(100):
            if any(r.url.path == watching and r.params.get("watch") == "true" for r in api._requests):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("roomsync run never started watching RoomSyncs")
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert "roomsync operator starting: all namespaces, standalone" in stderr.decode()
