"""``roomsync``: validate, plan, sync, demo, sandbox, rooms, run; status, reconcile, suspend, resume (the cluster).

Exit codes: 0 success (plan: both sides agree); 1 invalid input or usage; 2 ``plan`` found pending changes;
3 a sync cycle failed (backend unreachable, credentials refused, mass delete refused, actions failed);
130 interrupted; 143 stopped by SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from roomsync import __version__
from roomsync.cli import output
from roomsync.cli.sync_cmd import EXIT_INVALID, EXIT_OK, plan_or_sync

EPILOG = """exit codes:
  0    success (plan: both sides already agree)
  1    invalid input: a manifest, a reference or a flag is wrong (every problem is listed with its field)
  2    plan: changes are pending
  3    a sync cycle failed (backend unreachable, credentials refused, mass delete refused, actions failed)
  130  interrupted (Ctrl-C)
  143  stopped by SIGTERM (sync, sandbox)

Secrets come from kind: Secret documents in the same files, or from ROOMSYNC_SECRET_<NAME>_<KEY> variables."""


class Parser(argparse.ArgumentParser):
    """argparse with the project's exit codes (a usage error is invalid input, 1; argparse's 2 means "changes
    pending" here) and without prefix matching of long options (``--onc`` is not ``--once``)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_INVALID, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="roomsync",
        description="Two-way sync of Planon room reservations and room calendars (Exchange Online, Google Workspace, "
        "CalDAV).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"roomsync {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_files(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-f",
            "--filename",
            dest="files",
            action="append",
            required=True,
            metavar="PATH",
            help="manifest file or directory (repeatable; - for stdin)",
        )
        p.add_argument("-o", "--output", choices=("table", "json"), default="table")

    validate = commands.add_parser("validate", help="check manifests against the CRDs; exit 1 on any error")
    with_files(validate)
    validate.add_argument(
        "--skip-references",
        action="store_true",
        help="check each manifest on its own: do not require the Connections and Secrets it names",
    )
    validate.add_argument(
        "--strict-kinds",
        action="store_true",
        help="report documents of other kinds (Kustomization, ExternalSecret ...) as errors instead of skipping them",
    )
    plan = commands.add_parser("plan", help="read both sides and show what a sync would change; writes nothing")
    with_files(plan)
    plan.add_argument("--allow-mass-delete", action="store_true", help="plan beyond safety.maxDeletePercent")
    sync = commands.add_parser("sync", help="reconcile the RoomSyncs in the files (every spec.interval)")
    with_files(sync)
    sync.add_argument("--once", action="store_true", help="run one cycle and exit")
    sync.add_argument("--allow-mass-delete", action="store_true", help="allow deletes beyond safety.maxDeletePercent")
    demo = commands.add_parser("demo", help="run the whole product on the embedded sandbox and show what happened")
    demo.add_argument("-o", "--output", choices=("table", "json"), default="table")
    sandbox = commands.add_parser(
        "sandbox",
        help="run the Planon and calendar emulators with a day of bookings; print manifests for them",
        description="Without an action: run the emulators (Ctrl-C stops them) and print manifests that point at "
        "them. With one: book a meeting on one side of running sandboxes, or show both sides.",
    )
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--planon-port", type=int, default=0)
    sandbox.add_argument("--graph-port", type=int, default=0)
    sandbox.add_argument(
        "--calendar", choices=("graph", "google", "caldav"), default="graph", help="which calendar to run"
    )
    sandbox.add_argument("--google-port", type=int, default=0)
    sandbox.add_argument("--caldav-port", type=int, default=0)
    actions = sandbox.add_subparsers(dest="action", metavar="ACTION")

    def trial_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-f",
            "--filename",
            dest="files",
            action="append",
            required=True,
            metavar="PATH",
            help="the manifests `roomsync sandbox` printed (they say where the sandboxes listen)",
        )
        p.add_argument("--day", metavar="YYYY-MM-DD", help="the day (default: the sandbox's day, the next workday)")

    book = actions.add_parser(
        "book",
        help="book a meeting as a person would: at a Planon kiosk, or from a calendar app (Outlook, Google, CalDAV)",
    )
    trial_options(book)
    book.add_argument("side", choices=("planon", "calendar"), help="where the person books")
    book.add_argument("rooms", metavar="ROOM", help="Planon unit code or room address; several: AMS-1.02,AMS-1.03")
    book.add_argument("hours", metavar="HH:MM-HH:MM", help="from-to, Amsterdam time")
    book.add_argument("subject")
    book.add_argument("--by", metavar="PERSON", help="who books: anna, ben, carla, dev or an address")
    book.add_argument(
        "--with", dest="attendees", action="append", default=[], metavar="PERSON", help="invite (calendar only)"
    )
    show = actions.add_parser("show", help="each room on a day, as Planon and the room calendar hold it")
    trial_options(show)
    show.add_argument("rooms", nargs="*", metavar="ROOM", help="only these rooms (unit code or address)")
    rooms = commands.add_parser(
        "rooms", help="list the rooms each Connection sees (Planon units, room mailboxes) and suggest spec.rooms pairs"
    )
    rooms.add_argument(
        "--connection",
        required=True,
        action="append",
        metavar="FILE",
        help="file with Connections (+ Secrets); repeat it for a Planon and a calendar Connection",
    )
    rooms.add_argument("-o", "--output", choices=("table", "json"), default="table")
    run = commands.add_parser("run", help="run the Kubernetes operator")
    run.add_argument("-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable)")
    run.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace (default)")
    run.add_argument("--selector", default=None, help="only RoomSyncs matching this label selector")
    run.add_argument(
        "--shard-leases",
        default=None,
        metavar="NAME",
        help="share the RoomSyncs with every replica started with this NAME, through coordination.k8s.io Leases",
    )
    run.add_argument("--standalone", action="store_true", help="the only replica: every RoomSync, no Leases (default)")
    run.add_argument("--shards", type=int, default=None, help="number of shards (default 16; equal on every replica)")
    run.add_argument("--lease-namespace", default=None, help="namespace of the Leases (default: own)")
    run.add_argument("--lease-duration", default=None, help="leaseDurationSeconds, whole seconds (default 15s)")
    run.add_argument("--renew-deadline", default=None, help="stop a shard not renewed for this long (default 10s)")
    run.add_argument("--retry-period", default=None, help="renew, and look for free shards, this often (default 2s)")
    run.add_argument("--identity", default=None, help="this replica's holderIdentity (default: pod name + random)")
    # kopf peering (active/standby) was replaced by --shard-leases; kept only to say so to an old Deployment.
    run.add_argument("--peering", default=None, help=argparse.SUPPRESS)
    run.add_argument("--priority", default=None, help=argparse.SUPPRESS)
    run.add_argument("--metrics-port", type=int, default=9090, help="port of /metrics; 0 turns metrics off")
    run.add_argument("--health-port", type=int, default=8080)
    run.add_argument("--web-port", type=int, default=None, help="serve the read-only health page on this port")
    run.add_argument(
        "--notifications-port",
        type=int,
        default=None,
        help="receive change notifications on this port (docs/operator.md)",
    )
    run.add_argument(
        "--notifications-url", default=None, help="public https base URL of that port (Connections may set their own)"
    )
    run.add_argument("--notifications-tls-cert", default=None, help="TLS certificate file of the notification port")
    run.add_argument("--notifications-tls-key", default=None, help="its private key file")
    run.add_argument(
        "--notifications-secret-file", default=None, help="key that clientStates and channel tokens are derived from"
    )
    run.add_argument(
        "--cluster-resource-namespace", default=None, help="namespace of ClusterConnections' Secrets (default: own)"
    )
    from roomsync.cli.cluster_cmd import add_cluster_commands

    add_cluster_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.verbose < 2:
        # azure-identity logs every failed token request with its exception's text (object reprs included); the
        # cycle reports the failure itself, once, with what to do about it. -vv shows azure's own words too.
        logging.getLogger("azure.identity").setLevel(logging.ERROR)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        output.errors.print("interrupted")
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "validate":
        return _validate(args)
    if args.command in ("plan", "sync"):
        from roomsync.config.bundle import load_bundle

        bundle = load_bundle(args.files)
        asyncio.run(bundle.resolve())  # the references are checked before anything is read or written
        if not bundle.ok:
            output.problems_table(bundle.problems)
            return EXIT_INVALID
        if not bundle.roomsyncs:
            output.errors.print("no RoomSync in the given files; nothing to do")
            return EXIT_INVALID
        return asyncio.run(
            plan_or_sync(
                bundle,
                write=args.command == "sync",
                once=getattr(args, "once", True),
                allow_mass_delete=args.allow_mass_delete,
                json_output=args.output == "json",
                paths=args.files,
            )
        )
    if args.command == "demo":
        from roomsync.cli.demo import run_demo

        return run_demo(json_output=args.output == "json")
    if args.command == "sandbox" and args.action is not None:
        from roomsync.cli import sandbox_trial

        return sandbox_trial.run(args)
    if args.command == "sandbox":
        from roomsync.cli.sandbox_cmd import run_sandbox

        ports = {"graph": args.graph_port, "google": args.google_port, "caldav": args.caldav_port}
        return run_sandbox(args.host, args.planon_port, ports[args.calendar], calendar=args.calendar)
    if args.command == "rooms":
        from roomsync.cli.rooms_cmd import list_rooms

        return list_rooms(args.connection, json_output=args.output == "json")
    if args.command == "run":
        from roomsync.k8s.main import run_operator

        return run_operator(args)
    if args.command in ("status", "reconcile", "suspend", "resume"):
        from roomsync.cli.cluster_cmd import run_cluster_command

        return run_cluster_command(args)
    raise AssertionError(args.command)  # argparse only lets the commands above through


def _validate(args: argparse.Namespace) -> int:
    from roomsync.config.bundle import load_bundle

    bundle = load_bundle(args.files, other_kinds=args.strict_kinds)
    if not args.skip_references:
        asyncio.run(bundle.resolve())
    if args.output == "json":
        output.emit_json(
            {
                "valid": bundle.ok,
                "errors": [{"where": p.where, "message": p.message} for p in bundle.problems],
                "roomsyncs": [c.key for c in bundle.roomsyncs],
                "skipped": bundle.skipped,
            }
        )
    elif bundle.ok:
        output.console.print(
            f"[green]valid[/green]: {len(bundle.roomsyncs)} RoomSync(s), {len(bundle.connections)} Connection(s), "
            f"{len(bundle.secrets)} Secret(s)" + (" (references not checked)" if args.skip_references else "")
        )
    else:
        output.problems_table(bundle.problems)
    if bundle.skipped and args.output != "json":
        output.errors.print(f"skipped {len(bundle.skipped)} document(s) of kinds roomsync does not own:")
        for where in bundle.skipped:
            output.errors.print(f"  {where}")
    return EXIT_OK if bundle.ok else EXIT_INVALID


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
