"""The operator's small parts on their own: options, kopf settings, event rate-limiting, metrics harvesting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest

from roomsync.cli.main import build_parser
from roomsync.connectors.base import RequestCounts
from roomsync.engine import Action, ActionKind, Plan
from roomsync.k8s.events import NORMAL, WARNING, Decision, EventRecorder, decisions
from roomsync.k8s.metrics import Metrics
from roomsync.k8s.options import ENV_POD_NAME, ENV_POD_NAMESPACE, OperatorOptions, OptionsError
from roomsync.k8s.settings import make_settings
from roomsync.k8s.spec import InvalidSpec, load_config
from roomsync.model import Response, Side
from roomsync.sync.apply import ApplyReport, Outcome
from roomsync.sync.cycle import CycleResult
from tests.helpers import NOW, booking
from tests.k8s_operator.conftest import NS, create, roomsync
from tests.k8s_operator.conftest import ROOMSYNCS as ROOMSYNCS_PATH

ROOMSYNCS = kopf.Resource("roomsync.io", "v1alpha1", "roomsyncs")


def options(*argv: str) -> OperatorOptions:
    return OperatorOptions.from_args(build_parser().parse_args(["run", *argv]))


def test_default_options_are_cluster_wide_and_standalone():
    parsed = options()
    assert parsed.clusterwide and parsed.standalone
    assert (parsed.metrics_port, parsed.health_port) == (9090, 8080)


def test_namespaces_selector_and_shard_leases(monkeypatch):
    monkeypatch.setenv(ENV_POD_NAME, "roomsync-7d9f-x2k4")
    monkeypatch.setenv(ENV_POD_NAMESPACE, "roomsync-system")
    parsed = options("--namespace", "a", "--namespace", "b", "--selector", "shard=1", "--shard-leases", "roomsync")
    assert parsed.namespaces == ("a", "b") and not parsed.clusterwide
    assert parsed.selector == "shard=1" and not parsed.standalone
    sharding = parsed.sharding
    assert sharding is not None
    assert (sharding.name, sharding.namespace, sharding.shards) == ("roomsync", "roomsync-system", 16)
    assert (sharding.lease_duration, sharding.renew_deadline, sharding.retry_period) == (15, 10.0, 2.0)  # client-go's
    # the pod name plus a random part: a restarted container never mistakes its predecessor's Leases for its own
    assert (
        sharding.identity.startswith("roomsync-7d9f-x2k4-")
        and sharding.identity != options("--shard-leases", "roomsync").sharding.identity
    )


def test_shard_lease_flags():
    parsed = options(
        "--shard-leases", "rs", "--shards", "4", "--lease-namespace", "ops", "--identity", "replica-a",
        "--lease-duration", "3s", "--renew-deadline", "2s", "--retry-period", "500ms",
    )  # fmt: skip
    sharding = parsed.sharding
    assert sharding is not None
    assert (sharding.shards, sharding.namespace, sharding.identity) == (4, "ops", "replica-a")
    assert (sharding.lease_duration, sharding.renew_deadline, sharding.retry_period) == (3, 2.0, 0.5)
    assert sharding.shard_lease(3) == "rs-shard-3"
    assert sharding.member_lease.startswith("rs-member-") and len(sharding.member_lease) == len("rs-member-") + 10


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--shard-leases", "rs", "--standalone"], "exclude each other"),
        (["--peering", "roomsync"], "replaced by --shard-leases"),
        (["--shards", "4"], "--shards only apply with --shard-leases"),
        (["--shard-leases", "rs", "--shards", "0"], "--shards must be between 1 and 1024"),
        (["--shard-leases", "Bad_Name"], "--shard-leases must be a DNS label"),
        (["--shard-leases", "rs", "--lease-duration", "1500ms"], "--lease-duration must be whole seconds"),
        (["--shard-leases", "rs", "--renew-deadline", "soon"], "--renew-deadline must be a duration"),
        (["--shard-leases", "rs", "--lease-duration", "10s", "--renew-deadline", "10s"], "stops a shard's workers"),
        (["--shard-leases", "rs", "--retry-period", "12s"], "--retry-period < --renew-deadline"),
    ],
)
def test_contradicting_or_unsafe_shard_flags_are_refused(argv, fragment):
    with pytest.raises(OptionsError, match=fragment):
        options(*argv)


def test_settings_use_the_roomsync_prefix_everywhere():
    settings = make_settings(OperatorOptions())
    assert settings.persistence.finalizer == "roomsync.io/finalizer"
    assert settings.persistence.progress_storage.prefix == "roomsync.io"
    assert settings.persistence.diffbase_storage.prefix == "roomsync.io"
    assert settings.posting.loggers is False  # only explicit Events, never log lines
    assert settings.peering.standalone is True


def test_label_selector_applies_to_roomsyncs_only():
    """kopf 1.45 silently ignores a selector registered under the 'group/plural' key: check it really applies."""
    settings = make_settings(OperatorOptions(selector="roomsync.io/shard=a"))
    assert settings.watching.label_selectors.collect(ROOMSYNCS) == ["roomsync.io/shard=a"]
    assert settings.watching.label_selectors.collect(kopf.Resource("roomsync.io", "v1alpha1", "connections")) == []


def test_only_labelled_secrets_are_watched():
    """The operator never receives the cluster's other Secrets: the apiserver filters the watch by label."""
    settings = make_settings(OperatorOptions())
    assert settings.watching.label_selectors.collect(kopf.Resource("", "v1", "secrets")) == ["roomsync.io/credentials"]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


BODY = {"metadata": {"uid": "u-1", "namespace": "ns", "name": "hq"}}


def test_events_are_rate_limited_per_reason_and_message():
    posted: list[tuple[str, str, str]] = []
    clock = Clock()
    recorder = EventRecorder(
        lambda body, t, r, m: posted.append((t, r, m)), interval=timedelta(minutes=10), clock=clock
    )
    auth = Decision(WARNING, "AuthenticationFailed", "401 from Graph")
    recorder.record(BODY, [auth])
    clock.now += timedelta(minutes=5)
    recorder.record(BODY, [auth])  # same reason and message within the interval: suppressed
    recorder.record(BODY, [Decision(WARNING, "AuthenticationFailed", "401 from Planon")])  # new message: posted
    recorder.record({"metadata": {"uid": "u-2"}}, [auth])  # another object: posted
    clock.now += timedelta(minutes=6)
    recorder.record(BODY, [auth])  # the interval has passed: posted again
    assert [m for _, _, m in posted] == ["401 from Graph", "401 from Planon", "401 from Graph", "401 from Graph"]


def test_events_of_one_cycle_are_capped_with_a_summary():
    posted: list[tuple[str, str, str]] = []
    recorder = EventRecorder(lambda body, t, r, m: posted.append((t, r, m)), per_cycle=3, clock=Clock())
    declined = [Decision(NORMAL, "RequestDeclined", f"declined meeting {i}") for i in range(7)]
    recorder.record(BODY, declined)
    assert len(posted) == 4
    assert posted[-1] == (NORMAL, "RequestDeclined", "and 4 more like this (RequestDeclined)")


class Client:
    """What the harvest reads of a client: its backend and its :class:`RequestCounts`."""

    backend = "graph"

    def __init__(self) -> None:
        self.requests = RequestCounts()


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_metrics_harvest_request_counts_as_deltas_per_client():
    metrics = Metrics()
    first = Client()
    first.requests.add("MR-1", "calendarView", 200, 3)
    first.requests.add("MR-2", "calendarView", 200, 2)
    first.requests.throttled_seconds = 1.5
    metrics.harvest([first])  # type: ignore[list-item]
    first.requests.add("MR-1", "calendarView", 429)
    metrics.harvest([first])  # type: ignore[list-item]
    metrics.harvest([first])  # type: ignore[list-item]  # nothing new: nothing added
    rotated = Client()  # a new client after a Secret rotation starts from zero
    rotated.requests.add("MR-1", "calendarView", 200)
    metrics.harvest([rotated])  # type: ignore[list-item]
    labels = {"backend": "graph", "operation": "calendarView"}
    assert value(metrics, "roomsync_backend_requests_total", **labels, status="200") == 6
    assert value(metrics, "roomsync_backend_requests_total", **labels, status="429") == 1
    assert value(metrics, "roomsync_backend_throttled_seconds_total", backend="graph") == 1.5


def test_forget_drops_a_deleted_roomsyncs_series():
    metrics = Metrics()
    metrics.set_ready("ns", "hq", True)
    metrics.failed("ns", "hq", "InvalidSpec")
    metrics.set_ready("ns", "other", False)
    metrics.forget("ns", "hq")
    assert metrics.registry.get_sample_value("roomsync_ready", {"namespace": "ns", "name": "hq"}) is None
    assert metrics.registry.get_sample_value("roomsync_ready", {"namespace": "ns", "name": "other"}) == 0


def roomsync_body(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "roomsync.io/v1alpha1",
        "kind": "RoomSync",
        "metadata": {"name": "hq", "namespace": "ns", "generation": 4},
        "spec": {
            "planon": {"connectionRef": "planon"},
            "calendar": {"connectionRef": "exchange"},
            "rooms": [{"planon": "MR-1", "calendar": "mr-1@contoso.com"}],
            **spec,
        },
    }


def test_live_spec_is_validated_and_defaulted():
    config = load_config(roomsync_body())
    assert (config.key, config.generation, config.interval) == ("ns/hq", 4, timedelta(seconds=60))
    with pytest.raises(InvalidSpec, match=r"spec\.interval: interval must be between"):
        load_config(roomsync_body(interval="1ms"))
    with pytest.raises(InvalidSpec, match=r"spec\.direction"):
        load_config(roomsync_body(direction="Sideways"))


def test_cycle_decisions_worth_an_event():
    request = booking("c-1", 9, subject="Team sync", rooms=("MR-1",))
    decline = Action(
        ActionKind.RESPOND,
        Side.CALENDAR,
        "room taken",
        frozenset({"MR-1"}),
        target=request,
        response=Response.DECLINE,
        comment="MR-1 is already reserved 09:00-10:00",
    )
    create = Action(ActionKind.CREATE, Side.PLANON, "new in calendar", frozenset({"MR-2"}), desired=request)
    update = Action(ActionKind.UPDATE, Side.CALENDAR, "moved", frozenset({"MR-1"}), target=request, desired=request)
    report = ApplyReport(
        outcomes=[
            Outcome(decline, response=Response.DECLINE),
            Outcome(create, ok=False, error="MR-2 is closed on Sundays", reason="BookingRefused"),
            Outcome(update, ok=False, error="503", reason="BackendUnavailable"),
        ]
    )
    result = CycleResult("ns/hq", NOW, full=False, dry_run=False, plan=Plan((decline, create, update)), report=report)
    found = [(d.type, d.reason, d.message) for d in decisions(result)]
    assert found == [
        (NORMAL, "RequestDeclined", 'declined "Team sync" for MR-1: MR-1 is already reserved 09:00-10:00'),
        (WARNING, "BookingRefused", 'Planon refused "Team sync" (MR-2): MR-2 is closed on Sundays'),
        (WARNING, "ActionsFailed", result.message),
    ]


async def test_emulator_has_the_apiserver_semantics_the_operator_relies_on(api):
    created = await create(api, ROOMSYNCS_PATH, {**roomsync(), "status": {"roomCount": 99}})
    meta = created["metadata"]
    assert (meta["generation"], "status" in created) == (1, False)  # status is ignored on create
    base = f"/apis/roomsync.io/v1alpha1/namespaces/{NS}/roomsyncs/hq"
    merge = {"Content-Type": "application/merge-patch+json"}

    async def send(path: str, body: Any, headers: dict[str, str] = merge) -> tuple[int, dict[str, Any]]:
        async with api.patch(path, json=body, headers=headers) as response:
            return response.status, await response.json()

    status, body = await send(base, {"spec": {"interval": "90s"}, "status": {"roomCount": 1}})
    assert (status, body["metadata"]["generation"], body.get("status")) == (200, 2, None)
    status, body = await send(base + "/status", {"status": {"roomCount": 2}, "spec": {"interval": "5m"}})
    assert (body["metadata"]["generation"], body["status"], body["spec"]["interval"]) == (2, {"roomCount": 2}, "90s")
    version = body["metadata"]["resourceVersion"]
    _, same = await send(base, {"metadata": {"labels": None}})
    assert same["metadata"]["resourceVersion"] == version  # a no-op changes nothing
    stale = [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"}]
    status, _ = await send(base, stale, {"Content-Type": "application/json-patch+json"})
    assert status == 422
