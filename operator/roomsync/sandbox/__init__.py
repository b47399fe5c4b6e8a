"""Emulators of the backends RoomSync talks to, for the tests, ``roomsync sandbox`` and ``roomsync demo``."""
