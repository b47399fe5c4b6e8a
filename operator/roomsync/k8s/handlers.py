"""The kopf layer, kept thin: every handler hands over to the controller or a worker in one call.

* a **daemon** per RoomSync runs its :class:`~roomsync.k8s.worker.Worker` loop (started on create and on operator
  start, stopped on deletion, operator exit, or when this replica goes to standby under peering);
* **event** handlers on RoomSyncs, Connections and Secrets wake the workers concerned: spec change (generation),
  ``roomsync.io/sync-requested-at``, rotated credentials. Event handlers keep no state on the objects, so the
  operator's own status writes cause no annotation churn;
* a **delete** handler applies ``deletionPolicy`` and lets kopf release the ``roomsync.io/finalizer``;
* a **login** handler: kopf's client-based login (in-cluster service account or kubeconfig) unless given another.

Handlers are registered on an explicit registry built per operator, never on kopf's global one, so two operators
(or a test and the CLI) in one process cannot see each other's handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf

from roomsync.k8s.controller import Controller
from roomsync.k8s.settings import GROUP, VERSION

LoginFn = Callable[..., Any]

#: How long a stopping daemon may take to finish its cycle and write status before kopf cancels it.
DAEMON_GRACE_SECONDS = 30.0


def default_login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """kopf's own logins, most capable first: the kubernetes client (exec plugins, in-cluster), then the basics."""
    for login in (kopf.login_via_client, kopf.login_with_service_account, kopf.login_with_kubeconfig):
        try:
            info = login(**kwargs)
        except Exception as error:
            kwargs["logger"].debug("login via %s failed: %s", login.__name__, error)
            continue
        if info is not None:
            return info
    return None


def build_registry(controller: Controller, *, login: LoginFn = default_login) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    kopf.on.login(registry=registry, id="login")(login)

    @kopf.daemon(
        GROUP,
        VERSION,
        "roomsyncs",
        id="sync",
        registry=registry,
        cancellation_backoff=DAEMON_GRACE_SECONDS,
        cancellation_timeout=5.0,
    )
    async def sync(body: kopf.Body, stopped: kopf.DaemonStopped, **_: Any) -> None:
        await controller.worker(body.metadata.namespace or "default", body.metadata.name or "").run(body, stopped)

    @kopf.on.event(GROUP, VERSION, "roomsyncs", id="roomsync-changed", registry=registry)
    def roomsync_changed(body: kopf.Body, type: str, **_: Any) -> None:
        if type in ("ADDED", "MODIFIED"):
            controller.roomsync_event(body)

    @kopf.on.event(GROUP, VERSION, "connections", id="connection-changed", registry=registry)
    def connection_changed(type: str, body: kopf.Body, **_: Any) -> None:
        if type is not None:  # None: the initial listing, nothing changed
            controller.connection_changed(body.metadata.namespace or "default", body.metadata.name or "")

    @kopf.on.event("", "v1", "secrets", id="secret-changed", registry=registry)
    def secret_changed(type: str, body: kopf.Body, **_: Any) -> None:
        if type is not None:  # the body (with the secret's data) is never kept or logged
            controller.secret_changed(body.metadata.namespace or "default", body.metadata.name or "")

    @kopf.on.delete(GROUP, VERSION, "roomsyncs", id="release", registry=registry)
    def release(body: kopf.Body, **_: Any) -> None:
        controller.roomsync_deleted(body)

    return registry
