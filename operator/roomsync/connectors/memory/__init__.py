"""An in-memory BookingStore: the reference implementation of the port, for tests and the engine's properties."""

from roomsync.connectors.memory.store import MemoryStore, WriteLog

__all__ = ["MemoryStore", "WriteLog"]
