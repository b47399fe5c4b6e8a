"""The EWS face of the Exchange sandbox: ``/EWS/Exchange.asmx`` over the Graph sandbox's mailbox store.

See :class:`~roomsync.sandbox.ews.server.ExchangeSandbox` (run it in-process) and
:class:`~roomsync.sandbox.ews.client.ExchangeAdmin` (drive it). Driven in tests by exchangelib only.
"""

from roomsync.sandbox.ews.client import ExchangeAdmin
from roomsync.sandbox.ews.server import SERVICE_ACCOUNT, SERVICE_PASSWORD, ExchangeSandbox

__all__ = ["SERVICE_ACCOUNT", "SERVICE_PASSWORD", "ExchangeAdmin", "ExchangeSandbox"]
