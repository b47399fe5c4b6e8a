"""Each emulator answers ``/_admin`` with a page listing what a person can do there, every admin route described,
and curl examples that work as printed; ``roomsync sandbox book`` refuses what it cannot do, saying why."""

from __future__ import annotations

import asyncio
import json
import shlex
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from roomsync.cli.main import main
from roomsync.cli.sandbox_cmd import running_google_sandboxes, running_sandboxes
from roomsync.sandbox import building
from roomsync.sandbox.graph import GraphSandbox
from roomsync.sandbox.planon import PlanonSandbox


@asynccontextmanager
async def emulator(name: str) -> AsyncIterator[tuple[str, ssl.SSLContext | bool]]:
    """An emulator's origin and the TLS trust to reach it."""
    if name == "planon":
        async with PlanonSandbox(seed=building.planon_seed()) as planon:
            yield planon.root_url, True
    elif name == "graph":
        async with GraphSandbox(building.graph_rooms()) as graph:
            yield graph.origin, ssl.create_default_context(cadata=graph.ca_pem)
    else:
        async with running_google_sandboxes() as boxes:
            yield boxes.google.origin, True


def url_of(curl: str) -> str:
    return next(word for word in shlex.split(curl) if word.startswith("http"))


def body_of(curl: str) -> dict[str, Any] | None:
    words = shlex.split(curl)
    return json.loads(words[words.index("-d") + 1]) if "-d" in words else None


@pytest.mark.parametrize("name", ["planon", "graph", "google"])
async def test_admin_index_lists_what_a_person_can_do_with_working_examples(name: str) -> None:
    async with emulator(name) as (origin, trust), aiohttp.ClientSession() as http:
        async with http.get(f"{origin}/_admin", ssl=trust) as page:
            assert page.status == 200 and page.content_type == "text/html"
            text = await page.text()
        assert "What a person can do here" in text and "For tests and experiments" in text
        async with http.get(f"{origin}/_admin", ssl=trust, headers={"Accept": "application/json"}) as answer:
            index = await answer.json()
        assert all(route["what"] for route in index["person"] + index["other"]), index  # every route described
        assert any("book" in route["path"] for route in index["person"])
        booking = next(r for r in index["person"] if r["path"].endswith("/book"))
        body = body_of(booking["example"])
        assert body is not None
        async with http.post(url_of(booking["example"]), json=body, ssl=trust) as done:
            assert done.status in (200, 201), await done.text()  # the example works as printed
        looks = [r for r in index["person"] if r["method"] == "GET" and "example" in r]
        assert looks, index["person"]
        for look in looks:  # and what it booked is where the page says to look
            async with http.get(url_of(look["example"]), ssl=trust) as seen:
                assert seen.status == 200 and body["subject"] in await seen.text()


async def test_book_says_what_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with running_sandboxes() as boxes:
        path = tmp_path / "sandbox.yaml"
        path.write_text(yaml.safe_dump_all(boxes.manifests()))
        cases = [
            (["planon", "AMS-9.99", "10:00-11:00", "X"], "room 'AMS-9.99' is in none of the RoomSyncs"),
            (["planon", "AMS-1.01", "11:00-10:00", "X"], "ends before it starts"),
            (["planon", "AMS-1.01", "ten", "X"], "is not a time span like 16:00-17:00"),
            (["planon", "AMS-1.01", "10:00-11:00", "X", "--with", "ben"], "a Planon kiosk records no attendees"),
            (["planon", "AMS-2.01", "09:00-15:00", "Long"], "the sandbox refused it: PN_R00102"),
        ]
        for extra, needle in cases:
            code = await _run(["sandbox", "book", "-f", str(path), *extra])
            assert code == 1 and needle in capsys.readouterr().err, (extra, needle)


async def _run(argv: list[str]) -> int:
    """The CLI in a worker thread: it runs its own event loop, and the sandboxes keep answering on this one."""
    return await asyncio.to_thread(main, argv)


async def test_a_placeholder_left_in_an_example_is_named_with_where_to_look() -> None:
    async with PlanonSandbox(seed=building.planon_seed()) as planon, aiohttp.ClientSession() as http:
        async with http.get(f"{planon.root_url}/_admin", headers={"Accept": "application/json"}) as answer:
            index = await answer.json()
        edit = next(r for r in index["person"] if r["path"].endswith("/edit"))
        assert "<syscode of the reservation>" in edit["example"]  # no number that only exists in an empty sandbox
        async with http.post(url_of(edit["example"]), json=body_of(edit["example"])) as refused:
            assert refused.status == 400
            assert "is not a reservation number (GET /_admin/reservations lists them)" in await refused.text()
