"""``roomsync sandbox --calendar google`` manifests validate and sync, and ``roomsync rooms`` lists the floor."""

from __future__ import annotations

import json

import yaml

from roomsync.cli.main import main
from roomsync.cli.sandbox_cmd import running_google_sandboxes
from roomsync.cli.sync_cmd import open_runners
from roomsync.config.bundle import Bundle, fill
from roomsync.config.manifests import Document
from roomsync.sandbox.google_floor import FLOOR
from roomsync.sync.runner import ClientPool


async def test_the_google_floor_manifests_validate_and_sync() -> None:
    async with running_google_sandboxes() as boxes:
        docs = boxes.manifests()
        bundle = fill(Bundle(environ={}), [Document("sandbox", i, d) for i, d in enumerate(docs)])
        assert bundle.ok, bundle.problems
        pool = ClientPool()
        try:
            runners, problems = await open_runners(bundle, pool, allow_mass_delete=False)
            assert not problems and len(runners) == 2
            results = [await r.cycle(boxes.google.state.calendars.now()) for r in runners]
            assert all(r.ok for r in results), [r.message for r in results]
            rooms = await pool.clients()[-1].rooms() if pool.clients()[-1].backend == "google" else []
            assert [r.email for r in rooms] == sorted(room.mailbox for room in FLOOR)
        finally:
            await pool.aclose()


def test_validate_accepts_the_google_floor_manifests(tmp_path: object) -> None:
    from pathlib import Path

    from roomsync.sandbox.google_floor import manifests

    key = json.dumps({"type": "service_account", "client_email": "a@b.iam.gserviceaccount.com"})
    planon = {
        "url": "https://planon.example/sdk/system/rest/v1",
        "auth": {"accessKey": {"secretRef": {"name": "planon", "key": "accessKey"}}},
    }
    google = {
        "subject": "roomsync@contoso.example",
        "auth": {"serviceAccountKey": {"secretRef": {"name": "google", "key": "key.json"}}},
    }
    docs = manifests(planon, google, {("planon", "accessKey"): "k", ("google", "key.json"): key})
    path = Path(str(tmp_path), "floor.yaml")
    path.write_text(yaml.safe_dump_all(docs))
    assert main(["validate", "-f", str(path)]) == 0
