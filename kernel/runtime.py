"""Garbage collector settings for the long-running servers (API, gRPC, workers).

Python's defaults suit short scripts: a young collection every 700 net allocations, and full
collections that walk every object the process holds, most of which are modules, classes and
settings that live as long as the process. A 1,000-message batch allocates tens of thousands of
short-lived objects, and with the defaults a fifth of its time went to the collector
(``bench.batch``, see README "Performance").
"""

from __future__ import annotations

import gc

__all__ = ["GEN0_THRESHOLD", "tune_gc"]

# Young collections after this many net allocations: fewer, each no slower (the young are few
# that survive). Cyclic garbage lives a little longer; memory stays bounded by the same rule.
GEN0_THRESHOLD = 10_000


def tune_gc() -> None:
    """Call once the process has imported and built everything it keeps: that is moved out of the
    collector's sight (``gc.freeze``), so full collections walk only what requests create."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
