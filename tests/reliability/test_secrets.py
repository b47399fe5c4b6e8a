"""Secrets stay secret, namespaces stay apart, TLS is verified.

The secret scan runs the CLI flows (validate, plan, sync --once; table and JSON output; ``-vv`` debug logging;
secrets in files and in the environment; wrong credentials) with credentials unique to this run, and the operator's
cycle in-process (status, messages, exceptions, every log record at DEBUG), and looks for the credentials and the
access tokens the emulators issued in everything that was printed, logged or written. The expected count is zero.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme

from roomsync.config.bundle import fill, load_bundle
from roomsync.config.manifests import Document
from roomsync.config.references import env_name
from roomsync.connectors.base import BackendUnavailable
from roomsync.connectors.graph import open_client as open_graph
from roomsync.connectors.planon import open_client as open_planon
from roomsync.connectors.registry import SecretNotFound, StoreOptions
from roomsync.model import RoomPair, Side, Window
from roomsync.sandbox.building import workday
from roomsync.sandbox.planon import DEMO_ACCESS_KEY
from tests.reliability import cli, scenario
from tests.reliability.rig import FOLLOW, NAMESPACE, Credentials, Rig, ThreadedRig, threaded_rig
from tests.reliability.world import world


@dataclass
class Scan:
    """Everything produced, with where it came from."""

    needles: list[str]
    texts: list[tuple[str, str]] = field(default_factory=list)

    def add(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def leaks(self) -> list[str]:
        return [
            f"{where}: contains {needle[:6]}..."
            for where, text in self.texts
            for needle in self.needles
            if needle in text
        ]

    @property
    def size(self) -> int:
        return sum(len(t) for _, t in self.texts)


def _issued_tokens(threaded: ThreadedRig) -> list[str]:
    rig = threaded.rig

    def collect() -> list[str]:
        return list(rig.graph.state.identity.tokens) + list(rig.planon.state.tokens)

    return threaded.run(collect)


@pytest.fixture(scope="module")
def rig_with_bookings() -> Iterator[ThreadedRig]:
    with threaded_rig() as threaded:
        threaded.call(scenario.baseline(threaded.rig, workday()))
        yield threaded


def test_cli_never_prints_or_logs_a_secret(rig_with_bookings: ThreadedRig, tmp_path: Path) -> None:
    threaded = rig_with_bookings
    rig = threaded.rig
    wrong = Credentials()  # well-formed, unknown to the emulators
    files = {
        "key": rig.write_manifests(tmp_path, "key.yaml"),
        "oidc": rig.write_manifests(tmp_path, "oidc.yaml", planon_auth="oidc"),
        "env": rig.write_manifests(tmp_path, "env.yaml", secrets_inline=False),
        "wrong": rig.write_manifests(tmp_path, "wrong.yaml", credentials=wrong),
    }
    env = {
        env_name("planon-sandbox", "accessKey"): rig.credentials.planon_access_key,
        env_name("planon-sandbox", "clientSecret"): rig.credentials.planon_client_secret,
        env_name("graph-sandbox", "clientSecret"): rig.credentials.graph_client_secret,
    }
    key, oidc, by_env, refused = (str(files[n]) for n in ("key", "oidc", "env", "wrong"))
    runs = [
        ("key", ["validate", "-f", key]),
        ("key", ["validate", "-f", key, "-o", "json"]),
        ("key", ["-vv", "plan", "-f", key]),
        ("key", ["-vv", "sync", "--once", "-f", key, "-o", "json"]),
        ("key", ["sync", "--once", "-f", key]),
        ("oidc", ["-vv", "sync", "--once", "-f", oidc]),
        ("env", ["validate", "-f", by_env, "-o", "json"]),
        ("env", ["-vv", "plan", "-f", by_env, "-o", "json"]),
        ("wrong", ["-vv", "plan", "-f", refused]),
        ("wrong", ["sync", "--once", "-f", refused, "-o", "json"]),
    ]
    scan = Scan(rig.credentials.values() + wrong.values())
    codes: dict[str, set[int]] = {}
    for name, argv in runs:
        result = cli.run(argv, env if name == "env" else None)
        codes.setdefault(name, set()).add(result.code)
        scan.add(f"{name}: roomsync {' '.join(argv)} (stdout)", result.stdout)
        scan.add(f"{name}: roomsync {' '.join(argv)} (stderr)", result.stderr)
    scan.needles += _issued_tokens(threaded)
    assert all(codes[name] <= {0, 2} for name in ("key", "oidc", "env")), codes  # 2: plan found pending changes
    assert 3 in codes["wrong"], codes  # the wrong credentials were really refused
    wrong_output = "".join(t for w, t in scan.texts if w.startswith("wrong") and "sync" in w)
    assert "AuthenticationFailed" in wrong_output
    assert scan.size > 100_000  # -vv really logged (HTTP, identity, CEL debug output)
    assert not scan.leaks(), scan.leaks()


async def test_status_messages_exceptions_and_logs_never_hold_a_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with world(tmp_path, planon_auth="oidc") as here:
        scan = Scan(here.rig.credentials.values())
        results = await here.cycle()
        await here.rig.graph.admin.revoke_credentials()
        await here.rig.planon.admin.expire_tokens()
        here.rig.planon.state.oidc_clients.clear()  # the OIDC client is gone in the identity provider
        failed = await here.cycle(force_full=True)
        assert {r.reason for r in failed} == {"AuthenticationFailed"}, [(r.reason, r.message) for r in failed]
        for result in [*results, *failed]:
            scan.add(f"{result.name} message", result.message)
            if result.error is not None:
                scan.add(f"{result.name} exception", f"{result.error!s} {result.error!r} {result.error.args!r}")
        scan.add("status", json.dumps(here.statuses, default=str))
        scan.add("clients", " ".join(repr(c) for c in here.pool.clients()))
        scan.needles += list(here.rig.graph.state.identity.tokens) + list(here.rig.planon.state.tokens)
    scan.add("log", caplog.text + " ".join(str(r.args) for r in caplog.records))
    assert "AuthenticationFailed" in json.dumps(scan.texts)
    assert not scan.leaks(), scan.leaks()


# -- namespaces -------------------------------------------------------------------------------------------------------
def _documents(docs: list[dict[str, Any]]) -> list[Document]:
    return [Document("test.yaml", i, d) for i, d in enumerate(docs)]


async def test_a_roomsync_uses_only_connections_and_secrets_of_its_own_namespace() -> None:
    rig = Rig()  # not started: only its manifests are needed
    docs = rig.manifests()
    stranger = next(d for d in docs if d["metadata"]["name"] == "amsterdam-follows")
    moved = json.loads(json.dumps(stranger))
    moved["metadata"]["namespace"] = "marketing"
    bundle = fill(load_bundle([], environ={}), _documents([*docs, moved]))
    ready = await bundle.resolve()
    problems = [str(p) for p in bundle.problems]
    assert any("Connection 'planon' does not exist in namespace 'marketing'" in p for p in problems), problems
    assert [c.key for c, _ in ready] == [f"{NAMESPACE}/boardroom-in-the-lead", f"{NAMESPACE}/amsterdam-follows"]
    # a Connection copied into the other namespace still cannot read the facilities Secret
    connections = [d for d in docs if d["kind"] == "Connection"]
    copies = [json.loads(json.dumps(c)) for c in connections]
    for copy in copies:
        copy["metadata"]["namespace"] = "marketing"
    bundle = fill(load_bundle([], environ={}), _documents([*docs, moved, *copies]))
    ready = await bundle.resolve()
    messages = " ".join(str(p) for p in bundle.problems)
    assert "Secret 'planon-sandbox' does not exist in namespace 'marketing'" in messages
    assert len(ready) == 2
    [(_, facilities)] = [(c, i) for c, i in ready if c.name == "amsterdam-follows"]
    assert (
        facilities.connections[Side.PLANON].lookup("planon-sandbox", "accessKey") == rig.credentials.planon_access_key
    )
    with pytest.raises(SecretNotFound):
        facilities.connections[Side.PLANON].lookup("graph-sandbox", "accessKey")


# -- TLS ---------------------------------------------------------------------------------------------------------------
async def test_graph_over_tls_is_refused_without_the_ca_and_works_with_it() -> None:
    """The Graph emulator's certificate comes from its own CA: without ``caBundle`` nothing is sent or read.

    In-process with ``maxAttempts: 1`` to keep it short (azure-identity still retries the token request, ~5 s).
    """
    async with Rig.started() as rig:
        spec, values = rig.graph.connection_spec()
        room = RoomPair(FOLLOW[0].code, FOLLOW[0].mailbox)
        window = Window.around(workday(), timedelta(days=1), timedelta(days=7))
        without_ca = {k: v for k, v in spec.items() if k != "caBundle"} | {"maxAttempts": 1}
        for connection, trusted in ((without_ca, False), (spec, True)):
            client = open_graph(connection, lambda name, key: values[(name, key)])
            try:
                store = client.store([room], StoreOptions(roomsync="facilities/tls"))
                if trusted:
                    assert not (await store.read(window, full=True)).unreadable_rooms
                else:
                    with pytest.raises(BackendUnavailable, match="certificate is not trusted"):
                        await store.read(window, full=True)
            finally:
                await client.aclose()
        assert rig.graph.state.identity.issued == 1  # only the trusted client got as far as a token


async def test_planon_over_tls_is_refused_without_the_ca_and_works_with_it() -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    rig = Rig()
    planon = type(rig.planon)(rig.gate, ssl_context=context, seed="demo")
    await planon.start()
    try:
        assert planon.url.startswith("https://")
        room = RoomPair("AMS-1.01", FOLLOW[0].mailbox)
        window = Window.around(workday(), timedelta(days=1), timedelta(days=7))
        with_ca = planon.connection_spec() | {"caBundle": ca.cert_pem.bytes().decode()}
        for spec, trusted in ((planon.connection_spec(), False), (with_ca, True)):
            client = open_planon(spec, lambda name, key: DEMO_ACCESS_KEY)
            try:
                store = client.store([room], StoreOptions(roomsync="facilities/tls"))
                if trusted:
                    snapshot = await store.read(window, full=True)
                    assert not snapshot.unreadable_rooms
                else:
                    with pytest.raises(BackendUnavailable, match=r"(?i)certificate"):
                        await store.read(window, full=True)
            finally:
                await client.aclose()
    finally:
        await planon.stop()
