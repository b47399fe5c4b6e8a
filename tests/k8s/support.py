"""Shared helpers of the Kubernetes artefact tests: paths, YAML loading and a minimal kustomize resolver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"
MANIFESTS = REPO / "manifests"
EXAMPLES = MANIFESTS / "examples"
CHART = REPO / "helm" / "roomsync"

#: Oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest kubernetes-validate knows.
KUBE_VERSIONS = ("1.29", "1.37")


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def kustomize(directory: Path) -> Iterator[dict[str, Any]]:
    """The resources of a kustomization (resources + namespace), enough for our plain manifests.

    The real kustomize is a Go binary this environment cannot install; our kustomizations only use ``resources``
    (files and directories with their own kustomization), ``namespace``, ``labels`` and ``images``.
    """
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    allowed = {"apiVersion", "kind", "resources", "namespace", "labels", "images"}
    unknown = set(spec) - allowed
    assert not unknown, f"{directory}/kustomization.yaml uses {unknown}: extend tests/k8s/support.py"
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        docs = list(kustomize(target)) if target.is_dir() else load_documents(target)
        for doc in docs:
            if spec.get("namespace") and doc["kind"] not in CLUSTER_SCOPED:
                doc.setdefault("metadata", {})["namespace"] = spec["namespace"]
            yield doc


CLUSTER_SCOPED = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "ClusterKopfPeering",
}


def validate_builtin(doc: dict[str, Any]) -> None:
    """kubernetes-validate in strict mode (unknown fields are errors) for every supported Kubernetes version."""
    for version in KUBE_VERSIONS:
        kubernetes_validate.validate(doc, version, strict=True)
