"""The calendar adapter for Exchange on-premise through EWS: the same emulated Exchange as the Graph adapter (its
mailbox store, booking assistant and admin API, where people act), reached by RoomSync through its EWS face.

The RoomSyncs run on an EWS Connection (NTLM, impersonation); what a room calendar holds is read from the store, as
for Graph, so both backends are held to the same observations.
"""

from __future__ import annotations

from typing import Any

from roomsync.sandbox.ews import ExchangeSandbox
from tests.scenarios.graph_backend import GraphCalendar


class EwsCalendar(GraphCalendar):
    name = "ews"
    sandbox_class = ExchangeSandbox
    #: EWS notifications come down the streaming connection the operator holds, not to the endpoint
    features = frozenset({"subject_rewrites"})

    @property
    def exchange(self) -> ExchangeSandbox:
        assert isinstance(self.sandbox, ExchangeSandbox)
        return self.sandbox

    def connection(self) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
        spec, secrets = self.exchange.ews_connection_spec(auth="ntlm")
        return {"ews": spec}, secrets
