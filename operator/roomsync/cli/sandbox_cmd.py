"""``roomsync sandbox``: keep the Planon and Exchange emulators running, seeded with the demo building.

The Exchange sandbox has two faces over one mailbox store: Graph (Exchange Online, floors 1 and 2) and EWS (the
on-premise fourth floor, reached with an NTLM service account that impersonates its rooms).

Prints the manifests (Connections, Secrets, RoomSyncs) that point at them, so ``roomsync plan/sync -f`` and people
with curl can poke at a realistic Planon and Exchange Online without a tenant. ``--calendar caldav`` runs a real
Radicale with the building's room calendars instead of the Graph emulator (``pip install 'roomsync[caldav-sandbox]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import yaml

from roomsync.cli import output
from roomsync.sandbox import building, google_floor
from roomsync.sandbox.ews import ExchangeSandbox
from roomsync.sandbox.google import GoogleSandbox
from roomsync.sandbox.planon import PlanonSandbox


@dataclass
class Sandboxes:
    planon: PlanonSandbox
    graph: ExchangeSandbox  # Exchange Online's face (Graph) and the on-premise floor's (EWS): one mailbox store

    def manifests(self) -> list[dict[str, Any]]:
        graph_spec, graph_secrets = self.graph.connection_spec()
        ews_spec, ews_secrets = self.graph.ews_connection_spec(auth="ntlm")
        secrets = {**self.planon.demo_secrets(), **graph_secrets, **ews_secrets}
        return building.manifests(self.planon.connection_spec(), graph_spec, secrets, ews_spec=ews_spec)


@contextlib.asynccontextmanager
async def running_sandboxes(
    host: str = "127.0.0.1", planon_port: int = 0, graph_port: int = 0
) -> AsyncIterator[Sandboxes]:
    async with (
        PlanonSandbox(seed=building.planon_seed(), host=host, port=planon_port) as planon,
        ExchangeSandbox(building.graph_rooms(), host=host, port=graph_port) as graph,
    ):
        yield Sandboxes(planon, graph)


@dataclass
class GoogleSandboxes:
    """Planon and a Google Workspace domain holding the demo building's Google floor."""

    planon: PlanonSandbox
    google: GoogleSandbox

    def manifests(self) -> list[dict[str, Any]]:
        google_spec, google_secrets = self.google.connection_spec()
        secrets = {**self.planon.demo_secrets(), **google_secrets}
        return google_floor.manifests(self.planon.connection_spec(), google_spec, secrets)


@contextlib.asynccontextmanager
async def running_google_sandboxes(
    host: str = "127.0.0.1", planon_port: int = 0, google_port: int = 0
) -> AsyncIterator[GoogleSandboxes]:
    async with (
        PlanonSandbox(seed=google_floor.floor_planon_seed(), host=host, port=planon_port) as planon,
        GoogleSandbox(google_floor.google_rooms(), domain=building.DOMAIN, host=host, port=google_port) as google,
    ):
        yield GoogleSandboxes(planon, google)


def run_google_sandbox(host: str, planon_port: int, google_port: int) -> int:
    async def serve() -> None:
        async with running_google_sandboxes(host, planon_port, google_port) as boxes:
            output.errors.print(f"Planon REST API:  {boxes.planon.url}   (admin: {boxes.planon.root_url}/_admin)")
            output.errors.print(
                f"Google Workspace: {boxes.google.origin}/calendar/v3   (admin: {boxes.google.origin}/_admin)"
            )
            output.errors.print("Manifests for these sandboxes follow on stdout; save them and run")
            output.errors.print("  roomsync plan -f sandbox.yaml   or   roomsync sync -f sandbox.yaml\nCtrl-C stops.")
            print(yaml.safe_dump_all(boxes.manifests(), sort_keys=False), end="", flush=True)
            await asyncio.Event().wait()

    asyncio.run(serve())
    return 0


def run_sandbox(host: str, planon_port: int, graph_port: int) -> int:
    async def serve() -> None:
        async with running_sandboxes(host, planon_port, graph_port) as boxes:
            output.errors.print(f"Planon REST API:  {boxes.planon.url}   (admin: {boxes.planon.root_url}/_admin)")
            output.errors.print(f"Microsoft Graph:  {boxes.graph.base_url}   (admin: {boxes.graph.origin}/_admin)")
            output.errors.print(f"Exchange EWS:     {boxes.graph.ews_url}   (on-premise floor 4, NTLM)")
            output.errors.print("Manifests for these sandboxes follow on stdout; save them and run")
            output.errors.print("  roomsync plan -f sandbox.yaml   or   roomsync sync -f sandbox.yaml\nCtrl-C stops.")
            print(yaml.safe_dump_all(boxes.manifests(), sort_keys=False), end="", flush=True)
            await asyncio.Event().wait()

    asyncio.run(serve())
    return 0


def run_caldav_sandbox(host: str, planon_port: int, caldav_port: int) -> int:
    """Planon's emulator and a real Radicale holding the building's room calendars."""
    from roomsync.sandbox.caldav import RadicaleMissing
    from roomsync.sandbox.caldav.building import start_building

    try:
        radicale, caldav_spec, caldav_secrets = start_building(host, caldav_port)
    except RadicaleMissing as missing:
        output.errors.print(f"[red]error[/red] {missing}")
        return 2

    async def serve() -> None:
        async with PlanonSandbox(seed=building.planon_seed(), host=host, port=planon_port) as planon:
            secrets = {**planon.demo_secrets(), **caldav_secrets}
            docs = building.manifests(planon.connection_spec(), {}, secrets, calendar=("rooms-caldav", caldav_spec))
            logins = [f"{user}/{pw}" for user, pw in radicale.users.items() if user != radicale.service_account]
            people = ", ".join(logins)
            output.errors.print(f"Planon REST API:  {planon.url}   (admin: {planon.root_url}/_admin)")
            output.errors.print(f"CalDAV (Radicale): {radicale.url}   room calendars under /room-sync/")
            output.errors.print(f"  people book rooms from any CalDAV client with their own login: {people}")
            output.errors.print("Manifests for these sandboxes follow on stdout; save them and run")
            output.errors.print("  roomsync plan -f sandbox.yaml   or   roomsync sync -f sandbox.yaml\nCtrl-C stops.")
            print(yaml.safe_dump_all(docs, sort_keys=False), end="", flush=True)
            await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    finally:
        radicale.stop()
    return 0
