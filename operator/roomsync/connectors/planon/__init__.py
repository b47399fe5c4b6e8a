"""The Planon REST API connector (``spec.planon`` of a Connection); see docs/planon.md for the Planon set-up."""

from roomsync.connectors.planon.client import CAPABILITIES, PlanonClient, open_client
from roomsync.connectors.planon.http import PlanonConfigurationError, PlanonRequestRejected, UnansweredWarning
from roomsync.connectors.planon.settings import PlanonSettings
from roomsync.connectors.planon.store import PlanonStore
from roomsync.connectors.planon.trigger import read_notices

__all__ = [
    "CAPABILITIES",
    "PlanonClient",
    "PlanonConfigurationError",
    "PlanonRequestRejected",
    "PlanonSettings",
    "PlanonStore",
    "UnansweredWarning",
    "open_client",
    "read_notices",
]
