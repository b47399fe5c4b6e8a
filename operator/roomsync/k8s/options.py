"""The operator's run-time options, from ``roomsync run`` flags and a few environment variables."""

from __future__ import annotations

import argparse
import os
import random
from dataclasses import dataclass, field
from datetime import timedelta

from roomsync.config.references import DEFAULT_CLUSTER_NAMESPACE

#: Environment variables the Deployment may set (the Downward API gives POD_NAME and POD_NAMESPACE).
ENV_PRIORITY = "ROOMSYNC_PEERING_PRIORITY"
ENV_POD_NAME = "POD_NAME"
ENV_POD_NAMESPACE = "POD_NAMESPACE"


class OptionsError(ValueError):
    """Flags that contradict each other; ``roomsync run`` exits 1 with this message."""


@dataclass(frozen=True)
class OperatorOptions:
    """Where to watch, how to scale out, where to serve probes and metrics.

    ``namespaces`` empty means cluster-wide. ``peering`` set means active/standby replicas coordinated through a
    ``KopfPeering``/``ClusterKopfPeering`` object of that name; otherwise the operator runs standalone.
    """

    namespaces: tuple[str, ...] = ()
    selector: str | None = None
    peering: str | None = None
    priority: int = 0
    metrics_port: int | None = 9090
    health_port: int | None = 8080
    web_port: int | None = None  # the read-only health page; off unless asked for
    #: The change-notification receiver (off unless asked for), its public base URL (Connections may name their
    #: own), its TLS certificate files (none: plain HTTP behind a TLS-terminating Ingress), and the file holding
    #: the key clientStates and channel tokens are derived from (Connections may name their own Secret).
    notifications_port: int | None = None
    notifications_url: str | None = None
    notifications_tls_cert: str | None = None
    notifications_tls_key: str | None = None
    notifications_secret_file: str | None = None
    #: Where ClusterConnections' Secrets live: the operator's own namespace.
    cluster_namespace: str = field(
        default_factory=lambda: os.environ.get(ENV_POD_NAMESPACE) or DEFAULT_CLUSTER_NAMESPACE
    )
    #: How often a Connection is checked (reachable, authenticated, rooms visible) besides on change.
    connection_check_interval: timedelta = timedelta(minutes=5)
    host: str = "0.0.0.0"
    instance: str = field(default_factory=lambda: os.environ.get(ENV_POD_NAME, "roomsync"))
    event_interval: timedelta = timedelta(minutes=10)

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces

    @property
    def standalone(self) -> bool:
        return self.peering is None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> OperatorOptions:
        namespaces = tuple(dict.fromkeys(n.strip() for n in (args.namespace or []) if n.strip()))
        if namespaces and args.all_namespaces:
            raise OptionsError("--namespace and --all-namespaces exclude each other")
        if args.peering and args.standalone:
            raise OptionsError("--peering and --standalone exclude each other")
        for port_name in ("metrics_port", "health_port", "web_port", "notifications_port"):
            port = getattr(args, port_name)
            if port is not None and not 0 <= port <= 65535:
                raise OptionsError(f"--{port_name.replace('_', '-')} must be a port number (0-65535), got {port}")
        url = getattr(args, "notifications_url", None) or None
        if url is not None and not url.startswith("https://"):
            raise OptionsError(
                f"--notifications-url must be an https:// URL (vendors only deliver to HTTPS), got {url}"
            )
        cert, key = getattr(args, "notifications_tls_cert", None), getattr(args, "notifications_tls_key", None)
        if bool(cert) != bool(key):
            raise OptionsError("--notifications-tls-cert and --notifications-tls-key go together")
        priority = 0
        if args.peering:
            # Peers with equal priority all pause (kopf's rule), so each replica needs its own: the Deployment may
            # pin it; otherwise a random one makes replicas distinct.
            raw = os.environ.get(ENV_PRIORITY)
            try:
                priority = int(raw) if raw else random.randint(1, 2**31 - 1)
            except ValueError as error:
                raise OptionsError(f"${ENV_PRIORITY} must be an integer, got {raw!r}") from error
        return cls(
            namespaces=namespaces,
            selector=(args.selector or None),
            peering=args.peering or None,
            priority=priority,
            metrics_port=args.metrics_port,
            health_port=args.health_port,
            web_port=args.web_port,
            notifications_port=getattr(args, "notifications_port", None),
            notifications_url=url,
            notifications_tls_cert=cert or None,
            notifications_tls_key=key or None,
            notifications_secret_file=getattr(args, "notifications_secret_file", None) or None,
            cluster_namespace=args.cluster_resource_namespace
            or os.environ.get(ENV_POD_NAMESPACE)
            or DEFAULT_CLUSTER_NAMESPACE,
        )
