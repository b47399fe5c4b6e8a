"""Hypothesis settings for the engine's property tests under mutation testing.

``ROOMSYNC_HYPOTHESIS_PROFILE=mutation`` (set by ``tests/mutation``) judges every mutant on the same few examples:
derandomized, so a mutant's verdict is the same on every run, and without the example database, so a failure found
for one mutant is not replayed against the next. The normal run keeps hypothesis' defaults and each test's own
``max_examples``.
"""

from __future__ import annotations

import os

from hypothesis import Phase, settings

#: No shrinking: a mutant only needs a verdict, not the smallest failing example.
settings.register_profile(
    "mutation",
    max_examples=10,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
)

profile = os.environ.get("ROOMSYNC_HYPOTHESIS_PROFILE")
if profile:
    settings.load_profile(profile)
