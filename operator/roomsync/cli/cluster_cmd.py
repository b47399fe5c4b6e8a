"""``roomsync status|reconcile|suspend|resume``: the RoomSyncs in a cluster, as ``flux`` and ``cmctl`` show theirs.

They talk to the API server with the kubeconfig's credentials (``--kubeconfig``, ``--context``, ``-n``), never to
the operator: ``status`` reads the RoomSyncs and Connections and shows the health view the operator's web page shows;
``reconcile`` sets the ``roomsync.io/sync-requested-at`` annotation and waits until the operator has run the cycle
and echoed it in ``status.lastHandledRequestedAt``; ``suspend``/``resume`` set ``spec.suspend`` (``resume`` waits for
the first status of the resumed RoomSync).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.table import Table

from roomsync.cli import output
from roomsync.cli.sync_cmd import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from roomsync.k8s.health import ConnectionView, RoomSyncView, connection_views, roomsync_view, roomsync_views

if TYPE_CHECKING:  # the Kubernetes client libraries load only when a cluster command runs
    from roomsync.k8s.kubeapi import ApiKube
    from roomsync.k8s.kubeconfig import Target

POLL_SECONDS = 0.5


class Refused(Exception):
    """The command cannot be carried out as asked (no such RoomSync, suspended, ...): exit 1."""


def add_cluster_commands(commands: Any) -> None:
    def cluster(p: argparse.ArgumentParser) -> None:
        p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
        p.add_argument("--context", default=None, help="kubeconfig context (default: the current one)")
        p.add_argument("-n", "--namespace", default=None, help="namespace (default: the context's)")

    status = commands.add_parser("status", help="RoomSyncs, their rooms and Connection health in the cluster")
    status.add_argument("name", nargs="?", help="one RoomSync: its rooms, failures, planned changes")
    cluster(status)
    status.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    status.add_argument("-o", "--output", choices=("table", "json"), default="table")
    reconcile = commands.add_parser("reconcile", help="run a RoomSync's cycle now and wait for its status")
    reconcile.add_argument("name")
    cluster(reconcile)
    reconcile.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (default 120)")
    suspend = commands.add_parser("suspend", help="stop a RoomSync's cycles (spec.suspend: true)")
    suspend.add_argument("name")
    cluster(suspend)
    resume = commands.add_parser("resume", help="resume a suspended RoomSync and wait for its next status")
    resume.add_argument("name")
    cluster(resume)
    resume.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (default 120)")


def run_cluster_command(args: argparse.Namespace) -> int:
    from roomsync.k8s.kubeapi import KubeAccessError
    from roomsync.k8s.kubeconfig import KubeconfigError, load

    try:
        target = load(args.kubeconfig, args.context)
    except KubeconfigError as error:
        output.errors.print(f"[red]error[/red] {error}")
        return EXIT_INVALID
    namespace = args.namespace or target.namespace
    command: Callable[[ApiKube, str, argparse.Namespace], Awaitable[int]] = COMMANDS[args.command]
    try:
        return asyncio.run(_with_api(target, command, namespace, args))
    except Refused as error:
        output.errors.print(f"[red]error[/red] {error}")
        return EXIT_INVALID
    except (KubeAccessError, OSError, TimeoutError) as error:
        output.errors.print(f"[red]error[/red] {error or type(error).__name__}")
        return EXIT_FAILED


async def _with_api(
    target: Target, command: Callable[[ApiKube, str, argparse.Namespace], Awaitable[int]], namespace: str, args: Any
) -> int:
    from roomsync.k8s.kubeapi import ApiKube, Credentials

    credentials = Credentials()
    credentials.update(target.info)
    api = ApiKube(credentials)
    try:
        return await command(api, namespace, args)
    finally:
        await api.aclose()


async def _roomsync(api: ApiKube, namespace: str, name: str) -> dict[str, Any]:
    body = await api.get("roomsyncs", namespace, name)
    if body is None:
        raise Refused(f"RoomSync {namespace}/{name} not found")
    return body


# -- status -----------------------------------------------------------------------------------------------------------
async def status(api: ApiKube, namespace: str, args: argparse.Namespace) -> int:
    scope = None if args.all_namespaces else namespace
    if args.name:
        bodies = [await _roomsync(api, namespace, args.name)]
    else:
        bodies = await api.list("roomsyncs", scope)
    views = roomsync_views(bodies)
    connections = [("Connection", b) for b in await api.list("connections", scope)]
    connections += [("ClusterConnection", b) for b in await api.list("clusterconnections", None)]
    conns = connection_views(connections)
    if args.name:  # only the two Connections this RoomSync uses
        refs = {views[0].planon, views[0].calendar}
        conns = [c for c in conns if (c.name if c.kind == "Connection" else f"{c.kind}/{c.name}") in refs]
        conns = [c for c in conns if c.kind != "Connection" or c.namespace == namespace]
    if args.output == "json":
        output.emit_json({"roomsyncs": [asdict(v) for v in views], "connections": [asdict(c) for c in conns]})
    elif args.name:
        _print_one(views[0], conns)
    else:
        _print_all(views, conns)
    return EXIT_OK if all(v.ready == "True" for v in views) else EXIT_FAILED


def _print_all(views: list[RoomSyncView], conns: list[ConnectionView]) -> None:
    table = Table(title="RoomSyncs", title_justify="left")
    for column in ("Namespace", "Name", "Mode", "Ready", "Reason", "Rooms", "Pending", "Failures", "Last sync"):
        table.add_column(column, overflow="fold")
    for v in views:
        table.add_row(
            v.namespace,
            v.name,
            v.mode,
            v.ready,
            v.reason,
            str(len(v.rooms)),
            str(v.pending),
            str(len(v.failures)),
            v.last_sync or "never",
        )
    output.console.print(table if views else "No RoomSync found.")
    _print_connections(conns)


def _print_connections(conns: list[ConnectionView]) -> None:
    table = Table(title="Connections", title_justify="left")
    for column in ("Kind", "Name", "Backend", "Ready", "Reason", "Reachable", "Authenticated", "Rooms visible"):
        table.add_column(column, overflow="fold")
    for c in conns:
        rooms = c.conditions.get("RoomsVisible", "Unknown")
        shown = rooms if c.rooms_visible is None else f"{rooms} ({c.rooms_visible})"
        table.add_row(
            c.kind, c.key, c.backend, c.ready, c.reason, c.conditions.get("Reachable", "Unknown"),
            c.conditions.get("Authenticated", "Unknown"), shown,
        )  # fmt: skip
    if conns:
        output.console.print(table)


def _print_one(view: RoomSyncView, conns: list[ConnectionView]) -> None:
    output.console.print(
        f"RoomSync {view.key}: Ready {view.ready} ({view.reason}), Synced {view.synced} ({view.synced_reason}), "
        f"mode {view.mode}, last sync "
        f"{view.last_sync or 'never'}, {view.pending} pending, {view.conflicts} conflicts, {view.refused} refused\n"
        f"  {view.message}"
    )
    rooms = Table(title="Rooms", title_justify="left")
    for column in ("Planon unit", "Calendar", "Bookings", "Pending", "Last error"):
        rooms.add_column(column, overflow="fold")
    for r in view.rooms:
        rooms.add_row(r.planon, r.calendar, "-" if r.bookings is None else str(r.bookings), str(r.pending), r.error)
    output.console.print(rooms)
    _entries("Failed or refused bookings", view.failures, ("side", "room", "subject", "start", "reason", "message"))
    _entries("Planned changes (dry run)", view.planned, ("side", "action", "room", "subject", "start", "reason"))
    _print_connections(conns)


def _entries(title: str, entries: tuple[Mapping[str, Any], ...], keys: tuple[str, ...]) -> None:
    if not entries:
        return
    table = Table(title=title, title_justify="left")
    for key in keys:
        table.add_column(key.capitalize(), overflow="fold")
    for entry in entries:
        table.add_row(*(str(entry.get(k, "")) for k in keys))
    output.console.print(table)


# -- reconcile, suspend, resume ---------------------------------------------------------------------------------------
async def _wait(api: ApiKube, namespace: str, name: str, seconds: float, done: Callable[[dict[str, Any]], bool]) -> Any:
    try:
        async with asyncio.timeout(seconds):
            while True:
                body = await _roomsync(api, namespace, name)
                if done(body):
                    return body
                await asyncio.sleep(POLL_SECONDS)
    except TimeoutError:
        raise TimeoutError(
            f"RoomSync {namespace}/{name}: no new status within {seconds:g}s; is the operator running?"
        ) from None


def _report(body: Mapping[str, Any]) -> int:
    view = roomsync_view(body)
    output.console.print(f"RoomSync {view.key}: Ready {view.ready} ({view.reason}): {view.message}")
    return EXIT_OK if view.ready == "True" else EXIT_FAILED


async def reconcile(api: ApiKube, namespace: str, args: argparse.Namespace) -> int:
    from roomsync.k8s.worker import REQUESTED_AT

    body = await _roomsync(api, namespace, args.name)
    if (body.get("spec") or {}).get("suspend"):
        raise Refused(f"RoomSync {namespace}/{args.name} is suspended: roomsync resume {args.name} first")
    requested = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    await api.patch("roomsyncs", namespace, args.name, {"metadata": {"annotations": {REQUESTED_AT: requested}}})
    output.errors.print(f"requested a cycle of RoomSync {namespace}/{args.name} at {requested}; waiting for it")
    done = await _wait(
        api, namespace, args.name, args.timeout,
        lambda b: (b.get("status") or {}).get("lastHandledRequestedAt") == requested,
    )  # fmt: skip
    return _report(done)


async def suspend(api: ApiKube, namespace: str, args: argparse.Namespace) -> int:
    await _roomsync(api, namespace, args.name)
    await api.patch("roomsyncs", namespace, args.name, {"spec": {"suspend": True}})
    output.console.print(f"RoomSync {namespace}/{args.name} suspended: no cycles run until roomsync resume")
    return EXIT_OK


async def resume(api: ApiKube, namespace: str, args: argparse.Namespace) -> int:
    await _roomsync(api, namespace, args.name)
    patched = await api.patch("roomsyncs", namespace, args.name, {"spec": {"suspend": False}})
    generation = int((patched.get("metadata") or {}).get("generation") or 0)

    def resumed(body: dict[str, Any]) -> bool:
        status = body.get("status") or {}
        return int(status.get("observedGeneration") or 0) >= generation and status.get("mode") != "Suspended"

    output.errors.print(f"resumed RoomSync {namespace}/{args.name}; waiting for its next status")
    return _report(await _wait(api, namespace, args.name, args.timeout, resumed))


COMMANDS: dict[str, Callable[[ApiKube, str, argparse.Namespace], Awaitable[int]]] = {
    "status": status,
    "reconcile": reconcile,
    "suspend": suspend,
    "resume": resume,
}
