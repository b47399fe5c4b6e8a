"""Exchange Online through Microsoft Graph (msgraph-sdk + azure-identity, application permissions on room mailboxes).

``open_client(spec, secrets, namespace=)`` is the registry entry point; see :mod:`.store` for the BookingStore and
docs/exchange-online.md for the tenant set-up.
"""

from roomsync.connectors.graph import sdk_speedups  # noqa: F401  (installs a CPU fix for msgraph models)
from roomsync.connectors.graph.client import CAPABILITIES, GraphClient, open_client
from roomsync.connectors.graph.subscriptions import read_notices

__all__ = ["CAPABILITIES", "GraphClient", "open_client", "read_notices"]
