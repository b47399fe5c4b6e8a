"""The notification admin routes the Graph and Google sandboxes share (``roomsync.sandbox.outbound``): a test arms
delivery faults, clears them and reads what was delivered over HTTP, alike for both vendors."""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp

from roomsync.sandbox.outbound import Delivery, Fault, Outbound


async def _admin_routes_drive_the_deliveries(origin: str, outbound: Outbound, endpoint: Any, tls: Any) -> None:
    url = f"{origin}/_admin/notifications"
    outbound.retry_delays = ()  # one attempt a delivery: Graph would retry the 404 below
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as session:
        async with session.post(f"{url}/faults", json={"mode": "lose"}) as refused:
            assert refused.status == 400
            assert "mode must be one of" in (await refused.json())["error"]
        async with session.put(f"{url}/trust", json={"ca": endpoint.ca_pem}) as trusted:
            assert trusted.status == 200
        async with session.post(f"{url}/faults", json={"mode": "drop", "count": 2}) as armed:
            assert armed.status == 200
        assert outbound.faults == [Fault("drop", 2)]
        outbound.send(Delivery(endpoint.base, b"", {}, "dropped"))
        async with session.delete(f"{url}/faults") as cleared:
            assert cleared.status == 200
        assert outbound.faults == []
        outbound.send(Delivery(endpoint.base, b"", {}, "delivered"))
        await outbound.idle()
        async with session.get(f"{url}/log") as answer:
            log = await answer.json()
    delivered = [entry for entry in log if entry["label"] == "delivered"]
    assert [(entry["label"], entry.get("fault")) for entry in log if entry["label"] != "validation"] == [
        ("dropped", "drop"),
        ("delivered", None),
    ]
    # reached over the TLS the trust route set up (a certificate error would be logged by name); the receiver knows
    # no room at its bare address and answers 404
    assert [entry["status"] for entry in delivered] == [404]


async def test_graph_notification_faults_over_the_admin_api(graph, endpoint):
    sandbox, _ = graph
    tls = ssl.create_default_context(cadata=sandbox.ca_pem)
    await _admin_routes_drive_the_deliveries(sandbox.origin, sandbox.state.notifications.outbound, endpoint, tls)


async def test_google_push_faults_over_the_admin_api(google, endpoint):
    sandbox, _ = google
    await _admin_routes_drive_the_deliveries(sandbox.origin, sandbox.state.push.outbound, endpoint, None)
