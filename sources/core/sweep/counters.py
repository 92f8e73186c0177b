"""What a run reports about its sweeps, in one object: the runner's tracker reads only this."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sources.core.pacing import ClientStats


@dataclass
class RunCounters:
    stats: ClientStats = field(default_factory=ClientStats)  # requests, retries, waits
    pages: int = 0  # handed to dlt, the state moved over them
    items: int = 0
    checkpoints: int = 0
    committed_pages: int = 0  # of ``pages``, those dlt has committed (counted by the runner)
    done: bool = False  # the sweep reached its last page
    total: int | None = None  # the items due, as the API said
    state_before: dict[str, Any] | None = None
    state_after: dict[str, Any] | None = None
    # lookback: items re-read behind the mark; those of them changed after they were loaded
    # (committed late at the source), and the largest such lateness.
    rereads: int = 0
    late_changes: int = 0
    max_lateness_s: float = 0.0
    # list + detail sweeps: detail records fetched, and loaded items found gone at the source.
    details: int = 0
    vanished: int = 0


def plural(count: int, noun: str) -> str:
    """``1 page``, ``2 pages``: a count as a user reads it."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
