"""Credentials for the CLI's cluster commands, from a kubeconfig the way ``kubectl`` reads it.

The kubernetes client library parses the file (contexts, exec plugins, client certificates, token files); the result
becomes a ``kopf.ConnectionInfo`` so the CLI talks to the API server through the same :class:`ApiKube` the operator
uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import kopf
from kubernetes import client, config


class KubeconfigError(Exception):
    """No usable kubeconfig (missing file, unknown context, no current context)."""


@dataclass(frozen=True)
class Target:
    info: kopf.ConnectionInfo
    namespace: str  # the context's namespace, or "default"
    context: str


def load(kubeconfig: str | None = None, context: str | None = None) -> Target:
    """The cluster of ``context`` (default: the current one) in ``kubeconfig`` ($KUBECONFIG, ~/.kube/config)."""
    configuration = client.Configuration()
    try:
        contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        chosen = next((c for c in contexts if c["name"] == context), None) if context else current
        if chosen is None:
            names = ", ".join(c["name"] for c in contexts)
            raise KubeconfigError(f"context {context!r} is not in the kubeconfig (it has: {names})")
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=chosen["name"], client_configuration=configuration
        )
    except config.ConfigException as error:
        raise KubeconfigError(f"cannot use the kubeconfig: {error}") from error
    authorization = (configuration.api_key or {}).get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    info = kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        username=configuration.username or None,
        password=configuration.password or None,
        scheme=scheme or None,
        token=token or None,
    )
    namespace = (chosen.get("context") or {}).get("namespace") or "default"
    return Target(info, namespace, chosen["name"])
