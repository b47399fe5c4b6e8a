"""The health page in a real headless browser (Debian's Chromium driven by Playwright), served by the operator running
against the Kubernetes emulator: what a facility admin sees without kubectl."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from roomsync.connectors.memory import MemoryStore
from roomsync.model import Side
from tests.helpers import booking
from tests.k8s_operator import memory_backend
from tests.k8s_operator.conftest import (
    NS,
    PLANON_URL,
    ROOMSYNCS,
    TENANT,
    condition,
    create,
    eventually,
    operator,
    roomsync,
    setup_connections,
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: The flags known to work here as root, with a network that refuses everything but loopback.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browse(url: str) -> dict[str, Any]:
    """Open the page as a person would and read what is on the screen."""
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=FLAGS, headless=True
        )
        try:
            page = browser.new_page()
            response = page.goto(url)
            seen: dict[str, Any] = {
                "status": response.status if response else None,
                "title": page.title(),
                "summary": page.locator("#summary").inner_text(),
                "sections": page.locator("section h2").all_inner_texts(),
                "text": page.locator("body").inner_text(),
                "refused": page.locator(
                    '[data-roomsync="facilities/hq"] table[aria-label="failures"] tr'
                ).all_inner_texts(),
                "planned": page.locator(
                    '[data-roomsync="facilities/trial"] table[aria-label="planned"] tr'
                ).all_inner_texts(),
                "connections": page.locator('table[aria-label="connections"] tr').all_inner_texts(),
                "rooms": page.locator('[data-roomsync="facilities/hq"] table[aria-label="rooms"] tr').all_inner_texts(),
                "forms": page.locator("form, input, button").count(),
            }
            page.screenshot(path=f"{profile}/page.png", full_page=True)
            return seen
        finally:
            browser.close()


def failures_of(api: Any, name: str) -> list[Any]:
    return ((api.read(ROOMSYNCS, NS, name) or {}).get("status") or {}).get("failures") or []


async def test_health_page_shows_roomsyncs_rooms_refusals_plans_and_connections(api):
    if shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is not installed: `make browser` (part of `make test`) installs it")
    planon = memory_backend.SYSTEMS[PLANON_URL] = MemoryStore(Side.PLANON, refuse_overlaps=True)
    calendar = memory_backend.system(TENANT, Side.CALENDAR)
    planon.put(booking("p-0", 9, subject="Board meeting", rooms=("MR-1",)))
    calendar.put(booking("c-1", 9, minutes=30, subject="Budget pre-read", rooms=("MR-1",)))
    await setup_connections(api)
    async with operator(api, web_port=0) as running:
        await create(api, ROOMSYNCS, roomsync(leader="Calendar"))
        trial_rooms = [{"planon": "MR-7", "calendar": "mr-7@contoso.com"}]
        planon.put(booking("p-7", 14, subject="Trial run", rooms=("MR-7",)))
        await create(api, ROOMSYNCS, roomsync("trial", dryRun=True, rooms=trial_rooms))
        await eventually(lambda: failures_of(api, "hq"), seconds=10, step=0.05)
        await eventually(lambda: (c := condition(api.read(ROOMSYNCS, NS, "trial"))) and c["status"] == "True", 10, 0.05)
        url = f"http://127.0.0.1:{running.servers.ports['web']}/"
        await eventually(lambda: running.controller.roomsyncs[(NS, "hq")].get("status", {}).get("failures"), 10, 0.05)
        seen = await asyncio.to_thread(browse, url)
    assert seen["status"] == 200 and seen["title"] == "RoomSync health"
    assert seen["summary"] == "2 RoomSync(s), 2 ready; 2 connection(s)"
    assert seen["sections"] == ["RoomSync facilities/hq", "RoomSync facilities/trial"]  # both out of sync: by name
    assert "Synced: False (ActionsFailed)" in seen["text"] and "Synced: False (DryRun)" in seen["text"]
    assert "Mode: Sync" in seen["text"] and "Mode: DryRun" in seen["text"]
    assert "Planon refused" in seen["text"] or "already reserved" in seen["text"]  # the reason, in Planon's words
    refused = [row for row in seen["refused"][1:] if "Budget pre-read" in row]
    assert refused and "BookingRefused" in refused[0] and "MR-1" in refused[0] and "Planon" in refused[0]
    assert any("Calendar\tcreate\tMR-7\tTrial run" in row for row in seen["planned"])
    rooms = {row.split("\t")[0]: row for row in seen["rooms"][1:]}
    assert set(rooms) == {"MR-1", "MR-2"} and "mr-1@contoso.com" in rooms["MR-1"]
    connections = {row.split("\t")[1]: row for row in seen["connections"][1:]}
    assert set(connections) == {"facilities/planon", "facilities/exchange"}
    assert "graph" in connections["facilities/exchange"] and "True" in connections["facilities/exchange"]
    assert seen["forms"] == 0  # read-only: nothing to submit
