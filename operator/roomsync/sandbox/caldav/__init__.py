"""A real CalDAV server for the tests, the benchmarks and ``roomsync sandbox --calendar caldav``: Radicale, run as
its own process (see :class:`~roomsync.sandbox.caldav.server.RadicaleServer`)."""

from roomsync.sandbox.caldav.server import SERVICE_ACCOUNT, RadicaleMissing, RadicaleServer, Reply

__all__ = ["SERVICE_ACCOUNT", "RadicaleMissing", "RadicaleServer", "Reply"]
