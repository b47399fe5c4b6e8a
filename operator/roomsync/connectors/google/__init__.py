"""Google Workspace room resources through the Calendar API v3 (google-api-python-client with its bundled
discovery documents, google-auth service-account credentials with domain-wide delegation).

``open_client(spec, secrets, namespace=)`` is the registry entry point; see :mod:`.store` for the BookingStore and
docs/google-workspace.md for the Workspace set-up.
"""

from roomsync.connectors.google.channels import read_notices
from roomsync.connectors.google.client import CAPABILITIES, GoogleClient, open_client

__all__ = ["CAPABILITIES", "GoogleClient", "open_client", "read_notices"]
