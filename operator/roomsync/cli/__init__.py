"""The ``roomsync`` command line."""
