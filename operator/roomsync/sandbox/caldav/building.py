"""The demo building's room calendars on a real Radicale, for ``roomsync sandbox --calendar caldav``.

One calendar per room under the service account (``/room-sync/<room address>/``, named by the room's address so
that discovery would find it too), in the building's zone; the people of the demo building have logins so that
they can book rooms from any CalDAV client (Thunderbird, Apple Calendar, DAVx5) by writing into a room calendar.
"""

from __future__ import annotations

import secrets
from typing import Any

from roomsync.sandbox.building import DOMAIN, ONLINE_ROOMS, ZONE, planon_seed
from roomsync.sandbox.caldav.server import SERVICE_ACCOUNT, RadicaleServer

SECRET = ("caldav-credentials", "password")


def logins(service_password: str) -> dict[str, str]:
    """The service account's and the building's people's logins (a person's password is ``<name>-demo``)."""
    people = [p["email"].split("@")[0] for p in planon_seed()["persons"] if p["email"].endswith("@" + DOMAIN)]
    return {SERVICE_ACCOUNT: service_password, **{name: f"{name}-demo" for name in people}}


def start_building(
    host: str = "127.0.0.1", port: int = 0
) -> tuple[RadicaleServer, dict[str, Any], dict[tuple[str, str], str]]:
    """A started Radicale with the building's room calendars, the ``spec.caldav`` pointing at it and its Secret."""
    password = secrets.token_urlsafe(16)
    server = RadicaleServer(logins(password), host=host, port=port).start()
    calendars = [
        {"room": room.mailbox, "url": server.make_calendar(room.mailbox, display_name=room.name, time_zone=ZONE)}
        for room in ONLINE_ROOMS
    ]
    spec = {
        "caldav": {
            "url": server.url,
            "auth": {"basic": {"username": SERVICE_ACCOUNT, "secretRef": {"name": SECRET[0], "key": SECRET[1]}}},
            "calendars": calendars,
        }
    }
    return server, spec, {SECRET: password}
