"""A stateful emulator of Google Workspace for room calendars: the Calendar API v3 subset RoomSync uses, the
Directory ``resources.calendars`` list, the OAuth token endpoint of the service-account JWT flow, and Google's
room resources (auto-accept, add-all, series rule, auto-replacement).

See :class:`~roomsync.sandbox.google.server.GoogleSandbox` (run it in-process) and
:class:`~roomsync.sandbox.google.client.SandboxAdmin` (drive it: book in Google Calendar, inspect, inject faults).
Imports nothing from RoomSync outside ``roomsync.sandbox``.
"""

from roomsync.sandbox.google.client import SandboxAdmin, SandboxError
from roomsync.sandbox.google.server import GoogleSandbox, SandboxState

__all__ = ["GoogleSandbox", "SandboxAdmin", "SandboxError", "SandboxState"]
