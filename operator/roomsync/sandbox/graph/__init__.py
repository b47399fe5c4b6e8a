"""A stateful emulator of the Microsoft Graph calendar subset RoomSync uses, with Exchange's room booking assistant.

See :class:`~roomsync.sandbox.graph.server.GraphSandbox` (run it in-process) and
:class:`~roomsync.sandbox.graph.client.SandboxAdmin` (drive it: book in Outlook, inspect, inject faults).
"""

from roomsync.sandbox.graph.client import SandboxAdmin, SandboxError
from roomsync.sandbox.graph.server import GraphSandbox, SandboxState

__all__ = ["GraphSandbox", "SandboxAdmin", "SandboxError", "SandboxState"]
