"""The real operator (kopf against the Kubernetes emulator) with the real Graph and Planon sandboxes: notifications
end to end, with an incremental poll interval of 5 minutes, in wall-clock time.

A booking in Outlook reaches Planon, and a kiosk booking reaches the room calendar, in seconds; Connections say
notifications are active; a forged notification is refused and counted on /metrics; a room that leaves the RoomSync
and a deleted RoomSync take their subscriptions with them; a restarted operator adopts its subscriptions instead of
making new ones; and a wake-up recorded on the RoomSync by another replica is read and removed by the owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import kmock
import kopf
import pytest
import trustme

from roomsync.k8s.main import Operator
from roomsync.k8s.notifications import annotation_of
from roomsync.k8s.options import OperatorOptions
from roomsync.sandbox.ews import ExchangeSandbox
from roomsync.sandbox.graph import GraphSandbox
from roomsync.sandbox.outbound import Fault
from roomsync.sandbox.planon import DEMO_ACCESS_KEY, PlanonSandbox
from tests.k8s_operator.conftest import (
    CLUSTER_NS,
    CONNECTIONS,
    NS,
    ROOMSYNCS,
    SECRETS,
    condition,
    create,
    delete,
    patch,
    secret,
)
from tests.k8s_operator.emulator import ApiServer

ROOMS = [("AMS-1.01", "ams-1.01@contoso.com"), ("AMS-1.02", "ams-1.02@contoso.com")]
TOKEN = "planon-event-connector-token"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def next_weekday(hour: int) -> datetime:
    """Tomorrow or later, a weekday at ``hour`` in Amsterdam (the units' opening hours)."""
    day = datetime.now(AMSTERDAM).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(hour), AMSTERDAM).astimezone(UTC)


async def until(check: Callable[[], Any], seconds: float = 15.0) -> Any:
    """Wall-clock polling of ``check`` (no looptime here: real sandboxes, real HTTP)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {seconds}s: last {value!r}")
        await asyncio.sleep(0.05)


class Cluster:
    """The sandboxes, the TLS files of the notification port, and the objects that tie them together."""

    def __init__(self, api: ApiServer, tmp: Path) -> None:
        self.api = api
        self.ca = trustme.CA()
        self.cert, self.key = tmp / "tls.crt", tmp / "tls.key"
        issued = self.ca.issue_cert("127.0.0.1")
        self.cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
        self.key.write_bytes(issued.private_key_pem.bytes())
        (tmp / "notify.key").write_text("an operator-wide notification key")
        self.key_file = tmp / "notify.key"
        ca = self.ca.cert_pem.bytes().decode()
        keep_subjects = {"DeleteSubject": False, "AddOrganizerToSubject": False}
        rooms = [{"address": m, "name": p, "processing": keep_subjects} for p, m in ROOMS]
        self.graph = self.sandbox_class(rooms, notification_ca=ca)
        self.planon = PlanonSandbox()

    sandbox_class: type[GraphSandbox] = GraphSandbox

    async def calendar_connection(self) -> dict[str, Any]:
        """The calendar Connection's backend part, its Secret created."""
        spec, secrets = self.graph.connection_spec("graph-credentials")
        await create(
            self.api, SECRETS, secret("graph-credentials", clientSecret=secrets[("graph-credentials", "clientSecret")])
        )
        return {"graph": spec}

    async def __aenter__(self) -> Cluster:
        await self.graph.start()
        await self.planon.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.planon.stop()
        await self.graph.stop()

    @contextlib.asynccontextmanager
    async def operator(self, port: int = 0) -> AsyncIterator[Operator]:
        def login(**_: Any) -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=str(self.api.url).rstrip("/"), default_namespace="default")

        options = OperatorOptions(
            host="127.0.0.1",
            health_port=0,
            metrics_port=0,
            cluster_namespace=CLUSTER_NS,
            notifications_port=port,
            notifications_tls_cert=str(self.cert),
            notifications_tls_key=str(self.key),
            notifications_secret_file=str(self.key_file),
        )
        async with Operator(options, login=login) as running:
            yield running

    async def objects(self, port: int, *, interval: str = "5m") -> None:
        """Secrets, Connections (their notification URL is the operator's port) and the RoomSync."""
        base = f"https://127.0.0.1:{port}/notifications"
        calendar = await self.calendar_connection()
        await create(self.api, SECRETS, secret("planon-credentials", accessKey=DEMO_ACCESS_KEY, trigger=TOKEN))
        planon = self.planon.connection_spec() | {
            "auth": {"accessKey": {"secretRef": {"name": "planon-credentials", "key": "accessKey"}}}
        }
        for name, backend_spec in (("planon", {"planon": planon}), ("exchange", calendar)):
            notifications: dict[str, Any] = {"url": base, "pollInterval": "5m"}
            if name == "planon":
                notifications["secretRef"] = {"name": "planon-credentials", "key": "trigger"}
            body = {
                "apiVersion": "roomsync.io/v1alpha1",
                "kind": "Connection",
                "metadata": {"name": name, "namespace": NS},
                "spec": backend_spec | {"notifications": notifications},
            }
            await create(self.api, CONNECTIONS, body)
        roomsync = {
            "apiVersion": "roomsync.io/v1alpha1",
            "kind": "RoomSync",
            "metadata": {"name": "hq", "namespace": NS},
            "spec": {
                "planon": {"connectionRef": "planon"},
                "calendar": {"connectionRef": "exchange"},
                "leader": "Calendar",
                "rooms": [{"planon": p, "calendar": m} for p, m in ROOMS],
                "interval": interval,
            },
        }
        await create(self.api, ROOMSYNCS, roomsync)
        trigger = f"{base}/planon/{NS}/planon/trigger"
        async with aiohttp.ClientSession() as session:
            body = {"url": trigger, "token": TOKEN, "ca": self.ca.cert_pem.bytes().decode()}
            async with session.put(f"{self.planon.root_url}/_admin/event-connector", json=body) as answer:
                assert answer.status == 200

    def roomsync(self) -> dict[str, Any]:
        return self.api.read(ROOMSYNCS, NS, "hq") or {}

    def active(self) -> bool:
        return bool(((self.roomsync().get("status") or {}).get("notifications") or {}).get("active"))

    def subscriptions(self) -> list[str]:
        return sorted(s.mailbox for s in self.graph.state.notifications.subscriptions.values())

    async def reservations(self, unit: str) -> list[str]:
        return [r["description"] for r in await self.planon.admin.reservations(unit) if "Cancelled" not in r["state"]]

    async def calendar(self, mailbox: str) -> list[str]:
        return [e.get("subject", "") for e in await self.graph.admin.room_events(mailbox)]


async def _metrics(port: int) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as answer:
        return await answer.text()


@pytest.mark.timeout(120)
async def test_changes_on_either_side_arrive_in_seconds_with_a_five_minute_poll(api, tmp_path):
    async with Cluster(api, tmp_path) as cluster, cluster.operator() as running:
        await cluster.objects(running.servers.ports["notifications"])
        await until(cluster.active)
        assert cluster.subscriptions() == sorted(m for _, m in ROOMS)
        status = cluster.roomsync()["status"]["notifications"]
        assert status["pollInterval"] == "300s" and set(status["calendar"]["channels"]) == {m for _, m in ROOMS}

        start = next_weekday(10)  # the next poll is 5 minutes away: only the notification can carry these
        await cluster.graph.admin.book_in_outlook(
            "ben@contoso.com", [ROOMS[0][1]], "From Outlook", start, start + timedelta(hours=1)
        )
        await until(lambda: cluster.reservations(ROOMS[0][0]))
        assert await cluster.reservations(ROOMS[0][0]) == ["From Outlook"]

        await cluster.planon.admin.book([ROOMS[1][0]], start, start + timedelta(hours=1), "From the kiosk")
        await until(lambda: cluster.calendar(ROOMS[1][1]))
        assert await cluster.calendar(ROOMS[1][1]) == ["From the kiosk"]

        for name in ("exchange", "planon"):
            await until(
                lambda n=name: (
                    (c := condition(api.read(CONNECTIONS, NS, n), "NotificationsActive")) and c["status"] == "True"
                )
            )

        port = running.servers.ports["notifications"]
        url = f"https://127.0.0.1:{port}/notifications/graph/{NS}/exchange/{NS}/hq/{ROOMS[0][1]}"
        forged = {"value": [{"subscriptionId": "x", "clientState": "rs1.forged", "changeType": "updated"}]}
        context = ssl.create_default_context()
        cluster.ca.configure_trust(context)
        async with aiohttp.ClientSession() as session, session.post(url, json=forged, ssl=context) as answer:
            assert answer.status == 403
        text = await _metrics(running.servers.ports["metrics"])
        assert 'roomsync_notifications_total{backend="graph",outcome="refused"} 1.0' in text
        assert 'roomsync_notifications_total{backend="graph",outcome="accepted"}' in text
        assert 'roomsync_notifications_total{backend="planon",outcome="accepted"}' in text

        await patch(api, ROOMSYNCS, "hq", {"spec": {"rooms": [{"planon": ROOMS[0][0], "calendar": ROOMS[0][1]}]}})
        await until(lambda: cluster.subscriptions() == [ROOMS[0][1]])
        await delete(api, ROOMSYNCS, "hq")
        await until(lambda: cluster.subscriptions() == [])


@pytest.mark.timeout(120)
async def test_a_restarted_operator_adopts_its_subscriptions_and_moves_them_when_the_url_changes(api, tmp_path):
    async with Cluster(api, tmp_path) as cluster:
        async with cluster.operator() as running:
            port = running.servers.ports["notifications"]
            await cluster.objects(port)
            await until(cluster.active)
            first = sorted(cluster.graph.state.notifications.subscriptions)
        posts, lists = _subscription_posts(cluster), _subscription_lists(cluster)
        async with cluster.operator(port) as running:  # the same public URL: adopted, nothing new, nothing leaked
            await until(lambda: _subscription_lists(cluster) > lists and _kept(running))
            assert sorted(cluster.graph.state.notifications.subscriptions) == first
            assert _subscription_posts(cluster) == posts

            moved = f"https://127.0.0.1:{port}/moved/notifications"  # e.g. a new Ingress path
            for name in ("planon", "exchange"):
                await patch_anew(api, CONNECTIONS, name, {"spec": {"notifications": {"url": moved}}})
            await until(lambda: sorted(s.notification_url.startswith(moved) for s in _live(cluster)) == [True, True])
            assert not set(first) & set(cluster.graph.state.notifications.subscriptions), "the old ones were deleted"
            await until(lambda: _saved_ids(cluster) == {s.id for s in _live(cluster)})  # status follows


async def patch_anew(api: ApiServer, resource: str, name: str, change: dict[str, Any]) -> None:
    """A merge patch on a session of its own: kmock's shared client stops answering once an operator has stopped."""
    group_version, plural = resource.rsplit("/", 1)
    url = f"{str(api.url).rstrip('/')}/apis/{group_version}/namespaces/{NS}/{plural}/{name}"
    headers = {"Content-Type": "application/merge-patch+json"}
    async with aiohttp.ClientSession() as session, session.patch(url, json=change, headers=headers) as answer:
        assert answer.status == 200, await answer.text()


def _kept(running: Operator) -> bool:
    """The worker's keeper has made its first pass (adopted or replaced what it found)."""
    worker = running.controller.workers.get((NS, "hq"))
    keeper = worker.notify.keeper if worker is not None else None
    return keeper is not None and keeper.restored and len(keeper.kept) == len(ROOMS)


def _saved_ids(cluster: Cluster) -> set[str]:
    saved = cluster.roomsync()["status"]["notifications"]["calendar"]["channels"]
    return {text.split(" ")[0] for text in saved.values()}


def _live(cluster: Cluster) -> list[Any]:
    return list(cluster.graph.state.notifications.subscriptions.values())


def _subscription_posts(cluster: Cluster) -> int:
    return _subscription_requests(cluster, "POST")


def _subscription_lists(cluster: Cluster) -> int:
    return _subscription_requests(cluster, "GET")


def _subscription_requests(cluster: Cluster, method: str) -> int:
    log = cluster.graph.state.traffic.log
    return sum(1 for e in log if e["operation"] == "subscriptions" and e["method"] == method)


class AnotherReplicaRunsIt:
    """Owners as a replica sees them that does not run the RoomSync: every wake-up is recorded on the object."""

    def local(self, namespace: str, name: str) -> None:
        return None


@pytest.mark.timeout(120)
async def test_a_wake_up_received_by_another_replica_is_recorded_read_by_the_owner_and_removed(api, tmp_path):
    async with Cluster(api, tmp_path) as cluster, cluster.operator() as running:
        await cluster.objects(running.servers.ports["notifications"])
        await until(cluster.active)
        running.controller.notifications.owners = AnotherReplicaRunsIt()  # this process's worker: the owner's
        start = next_weekday(11)
        await cluster.graph.admin.book_in_outlook(
            "ben@contoso.com", [ROOMS[0][1]], "Recorded", start, start + timedelta(hours=1)
        )
        await until(lambda: cluster.reservations(ROOMS[0][0]))
        assert await cluster.reservations(ROOMS[0][0]) == ["Recorded"]
        key = annotation_of(ROOMS[0][0])
        await until(lambda: key not in (cluster.roomsync()["metadata"].get("annotations") or {}))
        versions = api.objects[(kmock.resource(ROOMSYNCS), NS, "hq")].history
        assert any(key in (v["metadata"].get("annotations") or {}) for v in versions), "woken through the object"


@pytest.mark.timeout(120)
async def test_a_wake_up_recorded_by_another_replica_is_read_and_removed_by_the_owner(api, tmp_path):
    async with Cluster(api, tmp_path) as cluster, cluster.operator() as running:
        await cluster.objects(running.servers.ports["notifications"])
        await until(cluster.active)
        cluster.graph.state.notifications.outbound.add_fault(Fault("drop"))  # only the recorded wake-up tells
        start = next_weekday(11)
        await cluster.graph.admin.book_in_outlook(
            "ben@contoso.com", [ROOMS[0][1]], "Recorded", start, start + timedelta(hours=1)
        )
        await cluster.graph.state.notifications.outbound.idle()
        key = annotation_of(ROOMS[0][0])
        value = json.dumps({"room": ROOMS[0][0], "resubscribe": False, "id": "from-replica-2"})
        await patch(api, ROOMSYNCS, "hq", {"metadata": {"annotations": {key: value}}})
        await until(lambda: cluster.reservations(ROOMS[0][0]))
        await until(lambda: key not in (cluster.roomsync()["metadata"].get("annotations") or {}))


class EwsCluster(Cluster):
    """The same cluster with Exchange on-premises: the calendar Connection speaks EWS (NTLM, impersonation)."""

    sandbox_class = ExchangeSandbox

    async def calendar_connection(self) -> dict[str, Any]:
        spec, secrets = self.graph.ews_connection_spec(secret_name="ews-credentials")  # type: ignore[attr-defined]
        await create(self.api, SECRETS, secret("ews-credentials", password=secrets[("ews-credentials", "password")]))
        return {"ews": spec}

    def subscriptions(self) -> list[str]:
        return sorted(s.mailbox for s in self.graph.ews.streaming.subscriptions.values())  # type: ignore[attr-defined]


@pytest.mark.timeout(120)
async def test_ews_streams_changes_in_seconds_with_a_five_minute_poll_and_says_so(api, tmp_path):
    async with EwsCluster(api, tmp_path) as cluster, cluster.operator() as running:
        await cluster.objects(running.servers.ports["notifications"])
        await until(cluster.active)
        await until(lambda: cluster.subscriptions() == sorted(m for _, m in ROOMS))
        assert len(cluster.graph.ews.streaming.connections) == 1, "one streaming connection for the Connection"  # type: ignore[attr-defined]
        await until(
            lambda: (
                (c := condition(api.read(CONNECTIONS, NS, "exchange"), "NotificationsActive")) and c["status"] == "True"
            )
        )
        start = next_weekday(10)  # the next poll is 5 minutes away: only the streaming event can carry this
        await cluster.graph.admin.book_in_outlook(
            "ben@contoso.com", [ROOMS[0][1]], "From Outlook", start, start + timedelta(hours=1)
        )
        await until(lambda: cluster.reservations(ROOMS[0][0]))
        assert await cluster.reservations(ROOMS[0][0]) == ["From Outlook"]
        text = await _metrics(running.servers.ports["metrics"])
        assert 'roomsync_notifications_total{backend="ews",outcome="accepted"}' in text

        await delete(api, ROOMSYNCS, "hq")
        await until(lambda: cluster.subscriptions() == [])
