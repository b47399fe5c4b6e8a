"""Room calendars on a CalDAV server (Nextcloud, SOGo, Zimbra, Apple Calendar Server, Radicale, ...).

``open_client(spec, secrets, namespace=)`` is the registry entry point; see :mod:`.store` for the BookingStore and
docs/caldav.md for the administrator's set-up and the servers' differences.
"""

from roomsync.connectors.caldav.client import CAPABILITIES, CalDAVClient, open_client

__all__ = ["CAPABILITIES", "CalDAVClient", "open_client"]
