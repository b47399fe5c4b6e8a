"""``roomsync run``: the operator against the current kubeconfig or the in-cluster service account."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import logging
import os
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import kopf

from roomsync import __version__
from roomsync.k8s import tasks
from roomsync.k8s.controller import Controller, utcnow
from roomsync.k8s.events import EventRecorder
from roomsync.k8s.handlers import LoginFn, build_registry, default_login
from roomsync.k8s.kubeapi import ApiKube, Credentials, Kube
from roomsync.k8s.lease_thread import LeaseThread
from roomsync.k8s.metrics import Metrics
from roomsync.k8s.notifications import read_key
from roomsync.k8s.options import OperatorOptions, OptionsError
from roomsync.k8s.probes import Health, Servers, serve, start_servers
from roomsync.k8s.settings import make_settings
from roomsync.k8s.sharding import Ownership, ShardElector
from roomsync.k8s.web import controller_snapshot, routes
from roomsync.sync.notify.settings import Defaults

log = logging.getLogger(__name__)

EXIT_OK, EXIT_INVALID, EXIT_FAILED = 0, 1, 3


class Operator:
    """One running operator (one replica): kopf, the controller, the shard Leases, and the probe/metrics endpoints.

    ``async with Operator(options) as op`` starts it and waits until kopf is ready; leaving the block stops it: kopf
    first (no more events), then the workers (running cycles finish and write status) while the shard Leases are
    still renewed, then the Leases are released. :meth:`run` is the same for the command line: until a signal or a
    failure. Several operators can run in one process (the multi-replica tests): each has its own registry, settings,
    metrics and API session, and stopping one stops only its own tasks (:mod:`roomsync.k8s.tasks`).

    The shard Leases are kept on a thread of their own (:mod:`roomsync.k8s.lease_thread`), so a busy main loop does
    not delay their renewal; ``lease_thread=False`` keeps them on the main loop instead, for tests that run several
    replicas in one loop with compressed time (looptime), which a second loop could not share.
    """

    def __init__(
        self,
        options: OperatorOptions,
        *,
        login: LoginFn = default_login,
        clock: Callable[[], datetime] = utcnow,
        kube: Kube | None = None,
        lease_thread: bool = True,
    ) -> None:
        self.options = options
        self.settings = make_settings(options)
        self.metrics = Metrics()
        self.credentials = Credentials()
        sharding = options.sharding
        who = f" ({sharding.identity})" if sharding is not None else ""
        user_agent = f"roomsync/{__version__}{who}"
        self.api = ApiKube(self.credentials, user_agent=user_agent)
        self.controller = Controller(
            kube or self.api,
            metrics=self.metrics,
            events=EventRecorder(interval=options.event_interval, clock=clock),
            clock=clock,
            cluster_namespace=options.cluster_namespace,
            check_interval=options.connection_check_interval,
            notification_defaults=Defaults(
                url=options.notifications_url, key=read_key(options.notifications_secret_file)
            ),
            ownership=Ownership(sharding.shards if sharding is not None else None),
        )
        self.elector: ShardElector | LeaseThread | None = None
        if sharding is not None and lease_thread:
            self.elector = LeaseThread(
                self.credentials, sharding, self.controller, clock=clock, metrics=self.metrics, user_agent=user_agent
            )
        elif sharding is not None:  # on the main loop: tests whose fake loop time (looptime) a thread cannot share
            self.elector = ShardElector(self.api, sharding, self.controller, clock=clock, metrics=self.metrics)
        self.health = Health()
        self.registry = build_registry(self.controller, login=tracked(login, self.health, self.credentials))
        self.servers = Servers()
        self.stop_flag = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._elector_task: asyncio.Task[None]

    async def start(self, *, signals: bool = False) -> None:
        """Start serving; ``signals``: SIGINT/SIGTERM stop it as :meth:`stop` does (the command line)."""
        self.servers = await start_servers(
            self.options.host, self.options.health_port, self.options.metrics_port, self.health, self.metrics.registry
        )
        try:
            if self.options.web_port is not None:
                page = routes(controller_snapshot(self.controller))
                await serve(self.servers, ["web"], self.options.host, self.options.web_port, page)
            o = self.options
            if o.notifications_port is not None:
                await self.controller.notifications.serve(
                    self.servers, o.host, o.notifications_port, o.notifications_tls_cert, o.notifications_tls_key
                )
        except BaseException:
            await self.servers.aclose()
            raise
        tasks.install(asyncio.get_running_loop())
        self._task = asyncio.create_task(self._operate(signals), name="roomsync operator")
        if self.elector is not None:
            self._elector_task = asyncio.create_task(self._hold_shards(), name="roomsync shard leases")

    async def _operate(self, signals: bool) -> None:
        tasks.enter_kopf_run(self)  # kopf's sweep at exit then stops this run's tasks only
        try:
            root_tasks = await kopf.spawn_tasks(
                registry=self.registry,
                settings=self.settings,
                clusterwide=self.options.clusterwide,
                namespaces=list(self.options.namespaces),
                standalone=True,
                stop_flag=self.stop_flag,
                ready_flag=self.health.ready,
            )
            if signals:
                # Replace kopf's own signal handlers (installed by spawn_tasks): stopped by a signal, kopf arms a
                # SIGKILL for itself after settings.process.ultimate_exiting_timeout, which would cut short the
                # workers' last cycles and the release of the shard Leases. The stop flag is the graceful way.
                loop = asyncio.get_running_loop()
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(signum, self.stop_flag.set)
            await kopf.run_tasks(root_tasks, ignored=tasks.OtherThan(self))
        except Exception as error:
            self.health.failed = f"{type(error).__name__}: {error}"
            raise

    async def wait_ready(self, seconds: float | None = None) -> None:
        assert self._task is not None, "start() first"
        ready = asyncio.ensure_future(self.health.ready.wait())
        done, _ = await asyncio.wait({ready, self._task}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if self._task in done:
                self._task.result()  # raises what kopf failed with
            raise TimeoutError("the operator did not become ready")

    async def _hold_shards(self) -> None:
        """Join the other replicas once logged in (the Leases are written with kopf's login credentials)."""
        assert self.elector is not None
        await self.health.logged_in.wait()
        self.elector.start()

    async def stop(self) -> None:
        self.stop_flag.set()
        try:
            if self._task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        finally:
            if self.elector is not None:
                self.elector.drain()  # no new shards; those held are renewed while their workers finish
            await self.controller.aclose()
            if self.elector is not None:
                self._elector_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._elector_task
                await self.elector.aclose()  # release the Leases: the other replicas take over at once
            await self.api.aclose()
            await self.servers.aclose()

    async def run(self) -> int:
        """Run until SIGINT/SIGTERM or a fatal error (the command line)."""
        await self.start(signals=True)
        try:
            assert self._task is not None
            await self._task
        except Exception as error:
            log.error("the operator stopped: %s", error)
            return EXIT_FAILED
        finally:
            await self.stop()
        return EXIT_OK

    async def __aenter__(self) -> Operator:
        await self.start()
        try:
            await self.wait_ready(30)
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def tracked(login: LoginFn, health: Health, credentials: Credentials) -> LoginFn:
    """The login handler, keeping the credentials it produced for the operator's own API calls and noting in
    ``health`` that it did (what ``/readyz`` waits for)."""

    async def login_and_note(**kwargs: Any) -> Any:
        if inspect.iscoroutinefunction(login):
            result = await login(**kwargs)
        else:  # kopf's logins read files and may run exec plugins: keep them off the event loop
            result = await asyncio.to_thread(login, **kwargs)
        if isinstance(result, kopf.ConnectionInfo):
            credentials.update(result)
        if result is not None:
            health.logged_in.set()
        return result

    return login_and_note


SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


def credentials_available() -> bool:
    """Whether any login kopf would try has something to read: the in-cluster service account or a kubeconfig.

    Checked before kopf starts (which would otherwise fail with a traceback), without importing a client.
    """
    if os.environ.get("KUBERNETES_SERVICE_HOST") and SERVICE_ACCOUNT_TOKEN.exists():
        return True
    configured = os.environ.get("KUBECONFIG")
    paths = configured.split(os.pathsep) if configured else [str(Path.home() / ".kube" / "config")]
    return any(Path(p).is_file() for p in paths if p)


def run_operator(args: argparse.Namespace, **overrides: Any) -> int:
    """Entry point of ``roomsync run``; returns the process exit code."""
    try:
        options = OperatorOptions.from_args(args)
    except OptionsError as error:
        print(f"roomsync run: {error}", file=sys.stderr)
        return EXIT_INVALID
    if "login" not in overrides and not credentials_available():
        print(
            "roomsync run: no Kubernetes credentials: not inside a cluster (no service account token) and no "
            f"kubeconfig ({os.environ.get('KUBECONFIG') or '~/.kube/config'}); run it in a cluster, or point "
            "KUBECONFIG at one",
            file=sys.stderr,
        )
        return EXIT_INVALID
    scope = "all namespaces" if options.clusterwide else "namespaces " + ", ".join(options.namespaces)
    sharding = options.sharding
    mode = (
        "standalone"
        if sharding is None
        else f"shard Leases {sharding.name!r} in {sharding.namespace} ({sharding.shards} shards) as {sharding.identity}"
    )
    selector = f", RoomSyncs matching {options.selector!r}" if options.selector else ""
    root = logging.getLogger()
    root.setLevel(min(root.level, logging.INFO))  # an operator reports what it does; -vv still gives debug
    logging.getLogger("kopf.objects").setLevel(max(root.level, logging.INFO))
    log.info("roomsync operator starting: %s, %s%s", scope, mode, selector)
    try:
        return asyncio.run(Operator(options, **overrides).run())
    except KeyboardInterrupt:
        return 130
