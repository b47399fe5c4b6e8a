"""One real Radicale per test process, shared by the CalDAV connector tests, the scenario suite and the benchmarks.

Starting Radicale takes about half a second; every test gets its own calendars in it (:func:`unique`), so sharing one
server keeps the tests isolated and fast. The server process is stopped when the test process exits.
"""

from __future__ import annotations

import atexit
import itertools
import os

from roomsync.sandbox.caldav import RadicaleServer

SERVICE_PASSWORD = "service-secret"
#: Logins: the service account RoomSync uses, the people of the scenarios (each books with their own client), a
#: room's delegate, and someone without rights on the room calendars.
USERS = {
    "room-sync": SERVICE_PASSWORD,
    **{name: f"{name}-pw" for name in ("anna", "ben", "carla", "dev", "nora", "delegate", "stranger")},
}
#: Radicale fsyncs every write; on a tmpfs that costs nothing (8 ms a PUT instead of 60 ms on this disk).
TMPFS = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
_server: RadicaleServer | None = None
_names = itertools.count(1)


def shared_radicale() -> RadicaleServer:
    global _server
    if _server is None:
        _server = RadicaleServer(USERS, failed_login_delay=0, folder=TMPFS).start()
        atexit.register(_server.stop)
    return _server


def unique(prefix: str) -> str:
    """A calendar name no other test in this process uses."""
    return f"{prefix}-{next(_names)}"
