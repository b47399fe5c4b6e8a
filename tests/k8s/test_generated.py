"""Generated files are up to date: the ClusterConnection CRD, the chart's CRD templates and its README values table
(``make generate`` rewrites them from crds/ and values.yaml)."""

from __future__ import annotations

import yaml

from roomsync.k8s.artefacts import ALLOWED_NAMESPACES, generate
from tests.k8s.support import CHART, CRDS, REPO


def test_every_generated_file_matches_its_source() -> None:
    stale = [str(path.relative_to(REPO)) for path, text in generate(REPO).items() if path.read_text() != text]
    assert not stale, f"out of date (run make generate): {stale}"


def test_cluster_connection_has_the_connection_backends_and_a_namespace_allow_list() -> None:
    connection = yaml.safe_load((CRDS / "roomsync.io_connections.yaml").read_text())
    cluster = yaml.safe_load((CRDS / "roomsync.io_clusterconnections.yaml").read_text())
    assert cluster["spec"]["scope"] == "Cluster" and cluster["spec"]["names"]["kind"] == "ClusterConnection"
    ours = cluster["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    theirs = connection["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert set(ours["properties"]) == set(theirs["properties"]) | {"allowedNamespaces"}
    assert ours["properties"]["allowedNamespaces"] == ALLOWED_NAMESPACES
    assert "allowedNamespaces" in ours["required"]
    assert ours["x-kubernetes-validations"] == theirs["x-kubernetes-validations"]


def test_chart_readme_documents_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    for key in ("replicaCount", "crds.install", "crds.keep", "web.enabled", "web.ingress.enabled", "extraVolumes"):
        assert f"| `{key}` |" in readme
    assert "| `sharding.enabled` |" in readme and "docs/operator.md" in readme
