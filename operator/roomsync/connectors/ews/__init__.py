"""Exchange on-premise through EWS (exchangelib), with a service account impersonating the room mailboxes.

``open_client(spec, secrets, namespace=)`` is the registry entry point; see :mod:`.store` for the BookingStore,
:mod:`.mailbox` for reads and docs/exchange-on-premises.md for the server set-up. Importing this package makes no
network call and changes nothing in exchangelib; opening a client registers RoomSync's extended properties and its
HTTP adapter.
"""

from roomsync.connectors.ews.client import CAPABILITIES, EwsClient, open_client

__all__ = ["CAPABILITIES", "EwsClient", "open_client"]
