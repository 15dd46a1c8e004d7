"""Hypothesis settings for the bounded fuzz run in the normal test suite.

The ``huxin-fuzz`` profile is what CI runs: a fixed number of examples per property, no
deadline (crypto cases vary with the load of a shared machine; hangs are caught by
``tests/fuzz/targets.py``'s own per-case limit instead), no example database written into the
working tree, and derandomised so a run is reproducible. The long run lives in ``bench/fuzz.py``.

Set ``HUXIN_FUZZ_EXAMPLES`` to run more examples per property locally.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

#: Examples per property in the bounded run.
EXAMPLES = int(os.environ.get("HUXIN_FUZZ_EXAMPLES", "100"))

settings.register_profile(
    "huxin-fuzz",
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large),
)
FUZZ = settings.get_profile("huxin-fuzz")
