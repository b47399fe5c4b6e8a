"""Whether a Connection notifies, where to, with which key; from ``spec.notifications`` and the operator's defaults.

``spec.notifications`` (every key optional)::

    enabled: true                  # false: poll only
    url: https://rs.example.com/n  # public base URL of the receiver (default: the operator's --notifications-url)
    secretRef: {name, key}         # Graph/Google: the key clientStates and channel tokens are derived from
                                   #   (default: the operator's --notifications-secret-file);
                                   # Planon: the bearer token its Event Connector sends (required for Planon)
    pollInterval: 15m              # the safety-net poll while notifications are active

Calendar backends notify by default once a public URL and a key are known (EWS, whose streaming connection the
operator holds, needs neither); Planon only when its Connection names the
trigger's token (polling stays Planon's default: it has no stock webhook).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from roomsync.config.durations import parse_duration
from roomsync.config.references import ResolvedConnection
from roomsync.sync.notify.addresses import key_id

DEFAULT_POLL_INTERVAL = timedelta(minutes=15)
#: The base of the addresses of backends that notify over a connection the operator holds (EWS streaming).
IN_PROCESS = "in-process:"
#: Their key when none is configured: nothing outside the process ever presents it.
_PROCESS_KEY = secrets.token_bytes(32)

ACTIVE = "Active"
DISABLED = "Disabled"
NOT_SUPPORTED = "NotSupported"
NO_PUBLIC_URL = "NoPublicUrl"
NO_SECRET = "NoSecret"
NOT_CONFIGURED = "NotConfigured"


@dataclass(frozen=True)
class Defaults:
    """What the operator (or a test) supplies for Connections that do not say: ``--notifications-url``,
    ``--notifications-secret-file``."""

    url: str | None = None
    key: bytes | None = field(default=None, repr=False)
    poll_interval: timedelta = DEFAULT_POLL_INTERVAL


@dataclass(frozen=True)
class NotifySettings:
    enabled: bool
    reason: str  # ACTIVE when enabled; otherwise why not (a condition reason)
    message: str
    url: str | None = None
    key: bytes | None = field(default=None, repr=False)
    poll_interval: timedelta = DEFAULT_POLL_INTERVAL

    @property
    def key_id(self) -> str:
        return key_id(self.key) if self.key else ""


def notify_settings(connection: ResolvedConnection, defaults: Defaults) -> NotifySettings:
    """Raises ``SecretNotFound`` only through the connection's lookup (resolution already checked the refs)."""
    spec: Mapping[str, Any] = connection.spec.get("notifications") or {}
    try:
        poll = parse_duration(str(spec["pollInterval"])) if "pollInterval" in spec else defaults.poll_interval
    except ValueError:
        poll = defaults.poll_interval  # the CRD's pattern refuses it; a hand-written object keeps the default
    ref = spec.get("secretRef") or {}
    own_key = connection.lookup(str(ref["name"]), str(ref["key"])).encode() if ref.get("name") else None
    if spec.get("enabled") is False:
        return NotifySettings(False, DISABLED, "spec.notifications.enabled is false: polling only", poll_interval=poll)
    if connection.backend == "planon":
        if own_key is None:
            return NotifySettings(
                False,
                NOT_CONFIGURED,
                "Planon has no stock webhook: it is polled every spec.interval unless its Event Connector calls the "
                "trigger endpoint (set spec.notifications.secretRef; see docs/planon.md)",
                poll_interval=poll,
            )
        return NotifySettings(True, ACTIVE, "the trigger endpoint accepts this token", spec.get("url"), own_key, poll)
    if not connection.capabilities.change_notifications:
        return NotifySettings(
            False,
            NOT_SUPPORTED,
            f"{connection.backend} has no change notifications RoomSync can use: polled every spec.interval",
            poll_interval=poll,
        )
    if connection.capabilities.notifies_over_held_connection:
        # EWS streaming: the operator holds the connection; addresses only name the room inside the process
        held = str(spec.get("url") or defaults.url or IN_PROCESS)
        return NotifySettings(
            True, ACTIVE, "notifications requested", held, own_key or defaults.key or _PROCESS_KEY, poll
        )
    url = str(spec.get("url") or defaults.url or "") or None
    if url is None:
        return NotifySettings(
            False,
            NO_PUBLIC_URL,
            "no public URL for notifications: set spec.notifications.url or the operator's --notifications-url "
            "(the chart's notifications.publicUrl); polled every spec.interval",
            poll_interval=poll,
        )
    key = own_key or defaults.key
    if not key:
        return NotifySettings(
            False,
            NO_SECRET,
            "no notification key: set spec.notifications.secretRef or the operator's --notifications-secret-file",
            url,
            poll_interval=poll,
        )
    return NotifySettings(True, ACTIVE, "notifications requested", url, key, poll)
