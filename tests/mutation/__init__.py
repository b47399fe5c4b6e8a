"""Mutation testing of ``roomsync.engine`` and ``roomsync.sync.apply`` with mutmut (docs/testing.md).

``python -m tests.mutation`` (``make mutate``) runs every mutant and records the figure in docs/mutation.txt;
``python -m tests.mutation --sample`` (``make test``) runs a fixed sample and asserts the kill-rate floor.
"""
