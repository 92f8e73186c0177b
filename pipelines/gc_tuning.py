"""CPython's cyclic garbage collector, tuned for the length of one run and restored after it.

A backfill allocates a few container objects per lead (the decoded dicts), nearly all freed at
once by reference counting. The collector still walks the young generation every 700 net
allocations and, a dozen times per 1M leads, the whole heap, which dlt, pyarrow and duckdb fill
with ~100k long-lived objects: 1.1-1.3 s of a 1M-lead backfill and 0.2 s of a 100k one, on the
thread that decodes and shapes, the run's critical path (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Net container allocations between young-generation passes (CPython's default: 700).
YOUNG_THRESHOLD = 20_000


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Objects alive when the run starts are left out of collections (``gc.freeze``) and the
    young generation is collected less often; both as they were afterwards. A process that
    freezes objects itself keeps its own freeze."""
    thresholds = gc.get_threshold()
    freezing = gc.get_freeze_count() == 0
    if freezing:
        gc.freeze()
    if thresholds[0]:  # 0: the process turned automatic collection off; it stays off
        gc.set_threshold(max(YOUNG_THRESHOLD, thresholds[0]), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if freezing:
            gc.unfreeze()


@contextmanager
def collections_off() -> Iterator[None]:
    """No automatic collection, as it was afterwards: for an entrypoint's imports (dlt, httpx,
    duckdb …), whose ~100k objects live as long as the process, so the collections CPython
    makes meanwhile walk them and free nothing (~0.07 s of a command's start-up)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
