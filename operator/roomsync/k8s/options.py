"""The operator's run-time options, from ``roomsync run`` flags and a few environment variables."""

from __future__ import annotations

import argparse
import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import timedelta

from roomsync.config.durations import parse_go_duration
from roomsync.config.references import DEFAULT_CLUSTER_NAMESPACE
from roomsync.k8s.sharding import (
    DEFAULT_LEASE_DURATION,
    DEFAULT_RENEW_DEADLINE,
    DEFAULT_RETRY_PERIOD,
    DEFAULT_SHARDS,
    ShardingOptions,
)

#: Environment variables the Deployment sets (the Downward API gives POD_NAME and POD_NAMESPACE).
ENV_POD_NAME = "POD_NAME"
ENV_POD_NAMESPACE = "POD_NAMESPACE"
#: Flags that only mean something with ``--shard-leases``.
LEASE_FLAGS = ("shards", "lease_namespace", "lease_duration", "renew_deadline", "retry_period", "identity")


class OptionsError(ValueError):
    """Flags that contradict each other; ``roomsync run`` exits 1 with this message."""


@dataclass(frozen=True)
class OperatorOptions:
    """Where to watch, how replicas share the work, where to serve probes and metrics.

    ``namespaces`` empty means cluster-wide. ``sharding`` set means several replicas share the RoomSyncs through
    shard Leases (:mod:`roomsync.k8s.sharding`); otherwise the operator runs standalone and runs every RoomSync.
    """

    namespaces: tuple[str, ...] = ()
    selector: str | None = None
    sharding: ShardingOptions | None = None
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
        return self.sharding is None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> OperatorOptions:
        namespaces = tuple(dict.fromkeys(n.strip() for n in (args.namespace or []) if n.strip()))
        if namespaces and args.all_namespaces:
            raise OptionsError("--namespace and --all-namespaces exclude each other")
        if args.peering or args.priority:
            raise OptionsError(
                "--peering and --priority (kopf active/standby) were replaced by --shard-leases NAME: every replica "
                "works, each on its share of the RoomSyncs, and takes over a stopped replica's share (docs/deploy.md)"
            )
        if args.shard_leases and args.standalone:
            raise OptionsError("--shard-leases and --standalone exclude each other")
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
        cluster_namespace = (
            args.cluster_resource_namespace or os.environ.get(ENV_POD_NAMESPACE) or DEFAULT_CLUSTER_NAMESPACE
        )
        return cls(
            namespaces=namespaces,
            selector=(args.selector or None),
            sharding=_sharding(args, cluster_namespace),
            metrics_port=args.metrics_port,
            health_port=args.health_port,
            web_port=args.web_port,
            notifications_port=getattr(args, "notifications_port", None),
            notifications_url=url,
            notifications_tls_cert=cert or None,
            notifications_tls_key=key or None,
            notifications_secret_file=getattr(args, "notifications_secret_file", None) or None,
            cluster_namespace=cluster_namespace,
        )


def _sharding(args: argparse.Namespace, default_namespace: str) -> ShardingOptions | None:
    if not args.shard_leases:
        given = [f"--{flag.replace('_', '-')}" for flag in LEASE_FLAGS if getattr(args, flag) is not None]
        if given:
            raise OptionsError(f"{', '.join(given)} only apply with --shard-leases")
        return None
    identity = args.identity or f"{os.environ.get(ENV_POD_NAME) or socket.gethostname()}-{secrets.token_hex(3)}"
    options = ShardingOptions(
        name=args.shard_leases,
        namespace=args.lease_namespace or os.environ.get(ENV_POD_NAMESPACE) or default_namespace,
        identity=identity,
        shards=DEFAULT_SHARDS if args.shards is None else args.shards,
        lease_duration=_whole_seconds("--lease-duration", args.lease_duration, DEFAULT_LEASE_DURATION),
        renew_deadline=_seconds("--renew-deadline", args.renew_deadline, DEFAULT_RENEW_DEADLINE),
        retry_period=_seconds("--retry-period", args.retry_period, DEFAULT_RETRY_PERIOD),
    )
    problems = options.problems()
    if problems:
        raise OptionsError("; ".join(problems))
    return options


def _seconds(flag: str, text: str | None, default: float) -> float:
    if text is None:
        return default
    try:
        return parse_go_duration(text).total_seconds()
    except ValueError as error:
        raise OptionsError(f"{flag} must be a duration such as 10s or 1500ms: {error}") from error


def _whole_seconds(flag: str, text: str | None, default: int) -> int:
    seconds = _seconds(flag, text, float(default))
    if not seconds.is_integer():
        raise OptionsError(f"{flag} must be whole seconds (a Lease counts its duration in seconds), got {text}")
    return int(seconds)
