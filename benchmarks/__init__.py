"""Benchmarks of RoomSync on the real code path (sandboxes over HTTP, connectors, engine, apply).

``python -m benchmarks [--quick] [--only NAME] [--json PATH]``; ``make bench`` / ``make bench-quick``. Not part of
``make test``. Results and the method are in docs/performance.md.
"""
