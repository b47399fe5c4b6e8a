"""The kopf layer, kept thin: every handler hands over to the controller in one call.

* **indices** of RoomSyncs, Connections and ClusterConnections: kopf fills them from the initial listing before any
  other handler runs, so the first pass of any RoomSync already knows every other RoomSync (one owner per room);
* **event** handlers on RoomSyncs, Connections, ClusterConnections and labelled Secrets start, wake and stop the
  workers and the Connection checks (on a sharded replica, those of the shards it holds). They keep no state on the
  objects, so the operator's own status writes cause no annotation churn and add **no finalizer**: ``deletionPolicy:
  Orphan`` needs no clean-up, and a namespace deleted while the operator is away is not held up. (kopf removes the
  ``roomsync.io/finalizer`` that the former ``--peering`` mode's daemons put on RoomSyncs, as nothing needs it.)
* a **login** handler: kopf's client-based login (in-cluster service account or kubeconfig) unless given another.

Handlers are registered on an explicit registry built per operator, never on kopf's global one, so two operators
(or a test and the CLI) in one process cannot see each other's handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf

from roomsync.config.references import CLUSTER_CONNECTION, CONNECTION
from roomsync.k8s.controller import Controller
from roomsync.k8s.settings import GROUP, VERSION
from roomsync.k8s.spec import InvalidSpec, load_config

LoginFn = Callable[..., Any]


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

    @kopf.index(GROUP, VERSION, "roomsyncs", id="roomsync_index", registry=registry)
    def roomsync_index(body: kopf.Body, namespace: str | None, name: str | None, **_: Any) -> Any:
        try:
            return {(namespace, name): load_config(body)}  # what the RoomSync claims; an invalid spec claims nothing
        except InvalidSpec:
            return None

    @kopf.index(GROUP, VERSION, "connections", id="connection_index", registry=registry)
    def connection_index(spec: kopf.Spec, namespace: str | None, name: str | None, **_: Any) -> Any:
        return {(CONNECTION, namespace, name): dict(spec)}

    @kopf.index(GROUP, VERSION, "clusterconnections", id="clusterconnection_index", registry=registry)
    def clusterconnection_index(spec: kopf.Spec, name: str | None, **_: Any) -> Any:
        return {(CLUSTER_CONNECTION, "", name): dict(spec)}

    @kopf.on.event(GROUP, VERSION, "roomsyncs", id="roomsync-changed", registry=registry)
    async def roomsync_changed(body: kopf.Body, type: str | None, **kwargs: Any) -> None:
        # kopf passes every index to every handler, by the index handler's id
        controller.use_indices(kwargs["roomsync_index"], kwargs["connection_index"], kwargs["clusterconnection_index"])
        controller.roomsync_event(body, type)

    @kopf.on.event(GROUP, VERSION, "connections", id="connection-changed", registry=registry)
    async def connection_changed(type: str | None, body: kopf.Body, **_: Any) -> None:
        controller.connection_event(CONNECTION, body, type)

    @kopf.on.event(GROUP, VERSION, "clusterconnections", id="clusterconnection-changed", registry=registry)
    async def clusterconnection_changed(type: str | None, body: kopf.Body, **_: Any) -> None:
        controller.connection_event(CLUSTER_CONNECTION, body, type)

    @kopf.on.event("", "v1", "secrets", id="secret-changed", registry=registry)
    async def secret_changed(type: str | None, body: kopf.Body, **_: Any) -> None:
        if type is not None:  # the body (with the secret's data) is never kept or logged
            controller.secret_changed(body.metadata.namespace or "default", body.metadata.name or "")

    return registry
