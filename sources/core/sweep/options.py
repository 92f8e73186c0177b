"""How one stream is swept: the settings the machinery reads, resolved by the API package
(whose settings spec holds their defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True, kw_only=True)
class SweepOptions:
    params: Mapping[str, str]  # the endpoint's fixed parameters and the stream's filters
    stream_key: str  # the stream's entry in the resource state
    filters: Mapping[str, str] = field(default_factory=dict)  # described in that entry
    initial_since: str | None = None  # where a stream with no state starts
    lookback: timedelta = timedelta(0)
    checkpoint_pages: int
    checkpoint_seconds: float
    prefetch_pages: int
    fetch_process_min_items: int  # 0: never a fetch process
    fetch_process_buffer_pages: int
    workers: int
    # Items shaped to arrow at a time: keeps the Python dicts waiting for shaping to a few pages.
    shape_rows: int = 1000
    # Items handed to dlt at a time: dlt spends a fixed amount of schema work per yielded table
    # whatever its size, so shaped tables are joined (zero-copy) into ~25k-item ones.
    yield_rows: int = 25_000

    @property
    def may_use_fetch_process(self) -> bool:
        """A fetch process may serve the sweep (not parallel ranges, not switched off)."""
        return self.fetch_process_min_items > 0 and self.workers < 2


@dataclass(frozen=True, kw_only=True)
class DetailOptions:
    """How one list + detail stream is swept (``detail_sweep.py``)."""

    params: Mapping[str, str]  # the list's fixed parameters and the stream's filters
    stream_key: str
    filters: Mapping[str, str] = field(default_factory=dict)
    new_only: bool  # list only what was created since the mark (misses updates)
    concurrency: int  # detail requests in flight
    delete_mode: str  # vanished items: `_deleted_at` set (soft) or rows removed (hard)
    checkpoint_pages: int
    checkpoint_seconds: float
    prefetch_pages: int
