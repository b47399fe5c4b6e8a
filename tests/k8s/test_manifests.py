"""The plain manifests (kubectl apply -k manifests/): valid, hardened, least-privilege, CRDs not copied."""

from __future__ import annotations

from typing import Any

import jsonpatch
import pytest

import roomsync
from roomsync.cli.main import build_parser
from tests.k8s.support import CHART, MANIFESTS, kustomize, load_documents, validate_builtin

DOCS = list(kustomize(MANIFESTS))
BY_KIND: dict[str, list[dict[str, Any]]] = {}
for _doc in DOCS:
    BY_KIND.setdefault(_doc["kind"], []).append(_doc)

#: (apiGroup, resource) -> verbs: exactly what the operator uses, nothing more.
EXPECTED_RULES = {
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
    ("", "namespaces"): {"get", "list", "watch"},
    ("roomsync.io", "clusterconnections"): {"get", "list", "watch"},
    ("roomsync.io", "clusterconnections/status"): {"patch"},
    ("roomsync.io", "roomsyncs"): {"get", "list", "watch", "patch"},
    ("roomsync.io", "roomsyncs/status"): {"patch"},
    ("roomsync.io", "connections"): {"get", "list", "watch"},
    ("roomsync.io", "connections/status"): {"patch"},
    ("", "secrets"): {"get", "list", "watch"},
    ("", "events"): {"create", "patch"},
    ("events.k8s.io", "events"): {"create", "patch"},
}


def _rules(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                found.setdefault((group, resource), set()).update(rule["verbs"])
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_is_valid_kubernetes_in_strict_mode(doc: dict[str, Any]) -> None:
    validate_builtin(doc)


def test_kustomization_brings_everything_and_pulls_the_crds_from_crds() -> None:
    assert set(BY_KIND) == {
        "CustomResourceDefinition",
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
    }
    assert {d["metadata"]["name"] for d in BY_KIND["CustomResourceDefinition"]} == {
        "roomsyncs.roomsync.io",
        "connections.roomsync.io",
        "clusterconnections.roomsync.io",
    }
    copies = [
        p
        for p in MANIFESTS.rglob("*.yaml")
        if any(isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition" for d in load_documents(p))
    ]
    assert copies == [], "CRDs must come from ../crds, not from a copy that can drift"
    namespaced = [d for d in DOCS if d["kind"] in {"ServiceAccount", "Deployment", "Service"}]
    assert {d["metadata"]["namespace"] for d in namespaced} == {"roomsync-system"}


def test_rbac_is_least_privilege() -> None:
    (role,) = BY_KIND["ClusterRole"]
    rules = _rules(role)
    assert rules == EXPECTED_RULES
    assert not any("*" in verbs for verbs in rules.values())
    (binding,) = BY_KIND["ClusterRoleBinding"]
    (account,) = BY_KIND["ServiceAccount"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "roomsync-system"}
    ]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_deployment_is_hardened_and_probed() -> None:
    (deployment,) = BY_KIND["Deployment"]
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == BY_KIND["ServiceAccount"][0]["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = _container(deployment)
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert {"requests", "limits"} <= set(container["resources"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"] == {"path": path, "port": "health"}


def test_deployment_arguments_are_accepted_by_roomsync_run() -> None:
    (deployment,) = BY_KIND["Deployment"]
    args = build_parser().parse_args(_container(deployment)["args"])
    assert args.command == "run"
    assert args.all_namespaces and args.standalone
    assert (args.health_port, args.metrics_port) == (8080, 9090)


def test_metrics_service_selects_the_operator_pods() -> None:
    (service,) = BY_KIND["Service"]
    (deployment,) = BY_KIND["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]


def test_image_tags_follow_the_version() -> None:
    (kustomization,) = load_documents(MANIFESTS / "kustomization.yaml")
    (chart,) = load_documents(CHART / "Chart.yaml")
    assert kustomization["images"][0]["newTag"] == roomsync.__version__ == chart["appVersion"]
    (deployment,) = BY_KIND["Deployment"]
    assert _container(deployment)["image"].endswith(":" + roomsync.__version__)


def test_the_notifications_component_is_valid_and_patches_the_deployment() -> None:
    component = MANIFESTS / "notifications"
    spec = load_documents(component / "kustomization.yaml")[0]
    assert spec["kind"] == "Component"
    for entry in spec["resources"]:
        for doc in load_documents(component / entry):
            validate_builtin(doc)
    (deployment,) = BY_KIND["Deployment"]
    operations = load_documents(component / "deployment-patch.yaml")[0]
    patched = jsonpatch.apply_patch(deployment, operations)
    validate_builtin(patched)
    (container,) = patched["spec"]["template"]["spec"]["containers"]
    assert "--notifications-port=8443" in container["args"]
    mounts = {m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"] for v in patched["spec"]["template"]["spec"]["volumes"]}
    assert {"notify-key", "notify-tls"} <= mounts & volumes
    build_parser().parse_args(container["args"])  # every flag exists
