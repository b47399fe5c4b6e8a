"""The Helm chart, rendered in-process (helm-python-sdk embeds the Helm Go SDK; no helm binary, no cluster)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

import roomsync
from roomsync.cli.main import build_parser
from roomsync.k8s.options import OperatorOptions
from tests.k8s.support import CHART, CRDS, validate_builtin
from tests.k8s.test_manifests import EXPECTED_RULES

helm_python.disable_logging()

NON_DEFAULT: dict[str, Any] = {
    "image": {"repository": "registry.example.com/roomsync", "tag": "0.1.0-rc1", "pullPolicy": "Always"},
    "imagePullSecrets": [{"name": "registry"}],
    "replicaCount": 3,
    "crds": {"install": True, "keep": False},
    "watch": {"namespaces": ["facilities", "hq"], "selector": "roomsync.io/shard=hq"},
    "sharding": {"enabled": True, "name": "roomsync-hq", "shards": 8, "leaseDuration": "30s", "retryPeriod": "5s"},
    "serviceAccount": {"annotations": {"azure.workload.identity/client-id": "11111111-1111-1111-1111-111111111111"}},
    "logVerbosity": 2,
    "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    "networkPolicy": {
        "enabled": True,
        "metricsFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
        "egressCIDRs": ["10.0.0.0/8", "0.0.0.0/0"],
    },
    "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
    "podAnnotations": {"example.com/team": "facilities"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
    "priorityClassName": "system-cluster-critical",
    "web": {
        "enabled": True,
        "port": 8181,
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "host": "rooms.example.com",
            "annotations": {"nginx.ingress.kubernetes.io/auth-url": "https://auth.example.com/oauth2/auth"},
            "tls": [{"hosts": ["rooms.example.com"], "secretName": "rooms-tls"}],
        },
    },
    "extraEnv": [{"name": "SSL_CERT_FILE", "value": "/etc/roomsync/ca/ca.crt"}],
    "extraVolumes": [{"name": "ca", "configMap": {"name": "corporate-ca"}}],
    "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/roomsync/ca", "readOnly": True}],
    "topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}
    ],
}
NOTIFYING: dict[str, Any] = {
    "notifications": {
        "enabled": True,
        "publicUrl": "https://notify.example.com/notifications",
        "keySecret": {"name": "roomsync-notify-key", "key": "key"},
        "tlsSecret": "roomsync-notify-tls",
        "ingress": {"enabled": True, "className": "nginx", "host": "notify.example.com"},
    },
    "networkPolicy": {"enabled": True, "notificationsFrom": [{"namespaceSelector": {}}]},
}
WITHOUT_METRICS: dict[str, Any] = {"metrics": {"enabled": False}, "rbac": {"create": True}, "crds": {"install": False}}

#: Kinds kubernetes-validate does not know (CRDs of other projects): checked by shape below instead.
FOREIGN_KINDS = {"ServiceMonitor"}


@pytest.fixture(scope="module")
def chart() -> helm_python.Chart:
    return helm_python.Chart.load(CHART)


def render(chart: helm_python.Chart, values: dict[str, Any]) -> list[dict[str, Any]]:
    chart.validate_schema(values)
    out = chart.render(values, name="roomsync", namespace="roomsync-system", is_install=True)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(out.items()):
        if path.endswith(".yaml"):
            docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def deployment_args(docs: list[dict[str, Any]]) -> list[str]:
    (deployment,) = by_kind(docs, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args: list[str] = container["args"]
    return args


@pytest.mark.parametrize(
    "values", [{}, NON_DEFAULT, WITHOUT_METRICS, NOTIFYING], ids=["default", "non-default", "no-metrics", "notifying"]
)
def test_rendered_output_is_valid_kubernetes_in_strict_mode(chart: helm_python.Chart, values: dict[str, Any]) -> None:
    docs = render(chart, values)
    assert docs
    for doc in docs:
        if doc["kind"] not in FOREIGN_KINDS:
            validate_builtin(doc)
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "roomsync"


def test_default_render(chart: helm_python.Chart) -> None:
    docs = render(chart, {})
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(
        [
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "ClusterRole",
            "ClusterRole",
            "ClusterRoleBinding",
            "ClusterRoleBinding",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
        ]
    )
    args = build_parser().parse_args(deployment_args(docs))
    assert args.command == "run" and args.all_namespaces and not args.standalone
    # two replicas sharing the RoomSyncs through the Leases of the release namespace, client-go's timings
    sharding = OperatorOptions.from_args(args).sharding
    assert sharding is not None
    assert (sharding.name, sharding.namespace, sharding.shards) == ("roomsync", "roomsync-system", 16)
    assert (sharding.lease_duration, sharding.renew_deadline, sharding.retry_period) == (15, 10.0, 2.0)
    assert args.web_port is None  # the health page is off by default
    assert args.cluster_resource_namespace == "roomsync-system"
    (deployment,) = by_kind(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"  # a new pod takes its share, the old releases
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"ghcr.io/roomsync/roomsync:{roomsync.__version__}"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert deployment["spec"]["template"]["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    granted: dict[tuple[str, str], set[str]] = {}
    for role in by_kind(docs, "ClusterRole"):
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    granted.setdefault((group, resource), set()).update(rule["verbs"])
    assert granted == EXPECTED_RULES, "the chart grants exactly what the plain manifests grant"
    (leases,) = by_kind(docs, "Role")
    assert leases["metadata"]["namespace"] == "roomsync-system"
    assert leases["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["list", "create", "update", "delete"]}
    ]


def test_namespaced_selected_sharded_render(chart: helm_python.Chart) -> None:
    docs = render(chart, NON_DEFAULT)
    args = build_parser().parse_args(deployment_args(docs))
    assert args.verbose == 2
    assert args.namespace == ["facilities", "hq"] and not args.all_namespaces
    assert args.selector == "roomsync.io/shard=hq"
    sharding = OperatorOptions.from_args(args).sharding
    assert sharding is not None and (sharding.name, sharding.shards) == ("roomsync-hq", 8)
    assert (sharding.lease_duration, sharding.retry_period) == (30, 5.0)
    (deployment,) = by_kind(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/roomsync:0.1.0-rc1"
    # Resource access only inside the watched namespaces; nothing about secrets cluster-wide.
    roles = [r for r in by_kind(docs, "Role") if not r["metadata"]["name"].endswith(("-cluster-secrets", "-leases"))]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["facilities", "hq"]
    bindings = sorted(b["metadata"]["namespace"] for b in by_kind(docs, "RoleBinding"))
    assert bindings == ["facilities", "hq", "roomsync-system", "roomsync-system"]  # cluster secrets, leases
    (cluster_secrets,) = [r for r in by_kind(docs, "Role") if r["metadata"]["name"].endswith("-cluster-secrets")]
    assert cluster_secrets["metadata"]["namespace"] == "roomsync-system"  # ClusterConnections' Secrets, nothing else
    assert cluster_secrets["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}
    ]
    for role in by_kind(docs, "ClusterRole"):
        resources = {r for rule in role["rules"] for r in rule["resources"]}
        assert "secrets" not in resources and "roomsyncs" not in resources
    (monitor,) = by_kind(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    (policy,) = by_kind(docs, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert by_kind(docs, "PodDisruptionBudget")[0]["spec"]["minAvailable"] == 1
    (account,) = by_kind(docs, "ServiceAccount")
    assert "azure.workload.identity/client-id" in account["metadata"]["annotations"]


def test_without_sharding_one_standalone_replica_and_no_leases(chart: helm_python.Chart) -> None:
    docs = render(chart, {"replicaCount": 1, "sharding": {"enabled": False}})
    args = build_parser().parse_args(deployment_args(docs))
    assert args.standalone and args.shard_leases is None
    (deployment,) = by_kind(docs, "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # never two operators at once during a rollout
    assert by_kind(docs, "Role") == []


def test_the_lease_set_name_defaults_to_a_short_enough_release_name(chart: helm_python.Chart) -> None:
    out = chart.render({"fullnameOverride": "roomsync-" + "x" * 40}, name="roomsync", namespace="ops", is_install=True)
    (deployment,) = [d for d in yaml.safe_load_all(out["roomsync/templates/deployment.yaml"]) if d]
    sharding = OperatorOptions.from_args(
        build_parser().parse_args(deployment["spec"]["template"]["spec"]["containers"][0]["args"])
    ).sharding
    assert sharding is not None and sharding.name == ("roomsync-" + "x" * 40)[:40]


def test_no_metrics_means_no_service_and_port(chart: helm_python.Chart) -> None:
    docs = render(chart, WITHOUT_METRICS)
    assert by_kind(docs, "Service") == []
    assert "--metrics-port=0" in deployment_args(docs)


def test_crds_are_templates_upgraded_with_the_release_and_kept_on_uninstall(chart: helm_python.Chart) -> None:
    crds = by_kind(render(chart, {}), "CustomResourceDefinition")
    assert sorted(c["metadata"]["name"] for c in crds) == [
        "clusterconnections.roomsync.io",
        "connections.roomsync.io",
        "roomsyncs.roomsync.io",
    ]
    for crd in crds:
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert crd["metadata"]["labels"]["app.kubernetes.io/part-of"] == "roomsync"
        plain = yaml.safe_load((CRDS / f"roomsync.io_{crd['spec']['names']['plural']}.yaml").read_text())
        assert crd["spec"] == plain["spec"], "the template carries the CRD of crds/ unchanged"
    assert (
        "annotations"
        not in by_kind(render(chart, {"crds": {"keep": False}}), "CustomResourceDefinition")[0]["metadata"]
    )
    assert by_kind(render(chart, {"crds": {"install": False}}), "CustomResourceDefinition") == []
    assert chart.crds == [], "no CRD in the chart's crds/ folder: it is installed once and never upgraded"


def test_no_symbolic_link_out_of_the_chart() -> None:
    for path in CHART.rglob("*"):
        assert not path.is_symlink(), f"{path} is a symbolic link: helm package would not follow it"


def test_health_page_is_off_by_default_and_a_clusterip_service_when_on(chart: helm_python.Chart) -> None:
    assert [s["metadata"]["name"] for s in by_kind(render(chart, {}), "Service")] == ["roomsync-metrics"]
    assert by_kind(render(chart, {}), "Ingress") == []
    docs = render(chart, NON_DEFAULT)
    (web,) = [s for s in by_kind(docs, "Service") if s["metadata"]["name"].endswith("-web")]
    assert web["spec"]["type"] == "ClusterIP"
    assert web["spec"]["ports"] == [{"name": "web", "port": 8181, "targetPort": "web", "protocol": "TCP"}]
    assert "--web-port=8181" in deployment_args(docs)
    (ingress,) = by_kind(docs, "Ingress")
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/auth-url"].startswith("https://auth.")
    assert ingress["spec"]["rules"][0]["host"] == "rooms.example.com"
    (policy,) = by_kind(docs, "NetworkPolicy")
    assert {"port": "web", "protocol": "TCP"} in policy["spec"]["ingress"][0]["ports"]


def test_notifications_are_off_by_default_and_get_their_own_port_service_ingress_and_policy(
    chart: helm_python.Chart,
) -> None:
    assert not [a for a in deployment_args(render(chart, {})) if a.startswith("--notifications")]
    docs = render(chart, NOTIFYING)
    args = deployment_args(docs)
    assert "--notifications-port=8443" in args
    assert "--notifications-url=https://notify.example.com/notifications" in args
    assert "--notifications-secret-file=/etc/roomsync/notify-key/key" in args
    assert "--notifications-tls-cert=/etc/roomsync/notify-tls/tls.crt" in args
    (service,) = [s for s in by_kind(docs, "Service") if s["metadata"]["name"].endswith("-notifications")]
    assert service["spec"]["ports"] == [
        {"name": "notifications", "port": 8443, "targetPort": "notifications", "protocol": "TCP"}
    ]
    (ingress,) = by_kind(docs, "Ingress")
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/notifications"
    (policy,) = by_kind(docs, "NetworkPolicy")
    rule = next(r for r in policy["spec"]["ingress"] if {"port": "notifications", "protocol": "TCP"} in r["ports"])
    assert rule["from"] == [{"namespaceSelector": {}}]
    (deployment,) = by_kind(docs, "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["notify-tls"]["secret"]["secretName"] == "roomsync-notify-tls"


def test_extra_volumes_env_and_topology_spread(chart: helm_python.Chart) -> None:
    (deployment,) = by_kind(render(chart, NON_DEFAULT), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert {"name": "ca", "configMap": {"name": "corporate-ca"}} in pod["volumes"]
    assert {"name": "ca", "mountPath": "/etc/roomsync/ca", "readOnly": True} in container["volumeMounts"]
    assert {"name": "SSL_CERT_FILE", "value": "/etc/roomsync/ca/ca.crt"} in container["env"]
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"


def test_chart_lints_clean() -> None:
    result = helm_python.lint(str(CHART), strict=True, kube_version="1.31.0")
    assert result["errors"] == []
    assert [m for m in result["messages"] if m["severity"] > 1] == []


def test_notes_render(chart: helm_python.Chart) -> None:
    out = chart.render(NON_DEFAULT, name="roomsync", namespace="roomsync-system")
    notes = next(text for path, text in out.items() if path.endswith("NOTES.txt"))
    assert "facilities, hq" in notes and "roomsync.io/shard=hq" in notes and "roomsync.io/sync-requested-at" in notes


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"replicaCount": "two"}, "replicaCount"),
        ({"replicaCount": 2, "sharding": {"enabled": False}}, "without sharding"),
        ({"sharding": {"leaseDuration": "1500ms"}}, "leaseDuration"),
        ({"sharding": {"name": "Bad_Name"}}, "name"),
        ({"sharding": {"shards": 0}}, "shards"),
        ({"crds": {"install": "yes"}}, "install"),
        ({"web": {"port": 0}}, "port"),
        ({"replicas": 1}, "replicas"),
        ({"image": {"repository": "x", "pullPolicy": "Sometimes"}}, "pullPolicy"),
        ({"watch": {"namespaces": ["Bad_NS"]}}, "namespaces"),
        ({"metrics": {"port": 70000}}, "port"),
        ({"logVerbosity": 5}, "logVerbosity"),
        ({"networkPolicy": {"egressCIDRs": ["10.0.0.0"]}}, "egressCIDRs"),
        ({"sharding": {"enabled": "yes"}}, "enabled"),
        ({"serviceAccount": {"annotations": {"a": 1}}}, "annotations"),
    ],
)
def test_values_schema_rejects_bad_values(chart: helm_python.Chart, values: dict[str, Any], fragment: str) -> None:
    with pytest.raises(helm_python.HelmValuesError, match=fragment):
        chart.validate_schema(values)


def test_the_workload_identity_install_in_the_docs_labels_the_pod(chart: helm_python.Chart) -> None:
    """docs/exchange-online.md's ``helm upgrade`` line, as Helm reads its ``--set-string`` flags: Azure's webhook
    injects the token file only into pods labelled ``azure.workload.identity/use: "true"``."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "exchange-online.md").read_text()
    values: dict[str, Any] = {}
    for flag in re.findall(r"--set-string '([^']+)'", page):
        key, _, value = flag.partition("=")
        *parents, leaf = [part.replace("\\.", ".") for part in re.split(r"(?<!\\)\.", key)]
        target = values
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    assert values["podLabels"] == {"azure.workload.identity/use": "true"}, values
    (deployment,) = by_kind(render(chart, values), "Deployment")
    assert deployment["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"
