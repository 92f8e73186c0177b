"""What a run reports: a typed result for orchestrators, and one-line failure reasons."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from dlt.common.pipeline import LoadInfo, SupportsPipeline

from sources.mega import SyncSession
from sources.mega.errors import MegaError, one_line


@dataclass
class RunResult:
    """One run, as orchestrators log and alert on it."""

    outcome: str
    pipeline_name: str
    dataset_name: str
    destination: str
    started_at: datetime
    finished_at: datetime
    duration_s: float
    pages: int
    leads: int
    requests: int
    retries: int
    rate_limit_waits: int
    rate_limit_wait_s: float
    checkpoints: int
    rows: dict[str, int]
    state_before: dict[str, Any] | None
    state_after: dict[str, Any] | None
    api_total: int | None
    load_ids: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def high_water_mark_before(self) -> str | None:
        return (self.state_before or {}).get("high_water_mark")

    @property
    def high_water_mark_after(self) -> str | None:
        return (self.state_after or self.state_before or {}).get("high_water_mark")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        rows = ", ".join(f"{table} {count}" for table, count in sorted(self.rows.items()))
        return (
            f"{self.outcome}: {self.leads} leads in {self.pages} pages, "
            f"{self.requests} requests ({self.retries} retries, {self.rate_limit_waits} "
            f"rate-limit waits), {self.checkpoints} checkpoints in {self.duration_s:.1f} s; "
            f"rows loaded: {rows or 'none'}; high-water mark {self.high_water_mark_before} "
            f"-> {self.high_water_mark_after}"
        )


class RunFailed(MegaError):
    """A run that stopped early. ``result`` says how far it got (committed checkpoints stay)."""

    def __init__(self, reason: str, result: RunResult) -> None:
        super().__init__(reason)
        self.result = result


class RunTracker:
    def __init__(self, pipeline: SupportsPipeline, session: SyncSession) -> None:
        self.pipeline = pipeline
        self.session = session
        self.started_at = datetime.now(timezone.utc)
        self._t0 = time.monotonic()
        self.rows: dict[str, int] = {}
        self.load_ids: list[str] = []

    def loaded(self, info: LoadInfo) -> None:
        self.load_ids.extend(info.loads_ids)
        trace = self.pipeline.last_trace
        normalize = trace.last_normalize_info if trace else None
        if normalize is None:
            return
        for table, count in normalize.row_counts.items():
            if not table.startswith("_dlt"):
                self.rows[table] = self.rows.get(table, 0) + count

    def finish(self, error: str | None = None) -> RunResult:
        stats = self.session.stats.snapshot()
        return RunResult(
            outcome="failed" if error else "success",
            pipeline_name=self.pipeline.pipeline_name,
            dataset_name=self.pipeline.dataset_name,
            destination=str(self.pipeline.destination.destination_name)
            if self.pipeline.destination
            else "",
            started_at=self.started_at,
            finished_at=datetime.now(timezone.utc),
            duration_s=round(time.monotonic() - self._t0, 3),
            pages=self.session.pages,
            leads=self.session.leads,
            requests=int(stats["requests"]),
            retries=int(stats["retries"]),
            rate_limit_waits=int(stats["rate_limit_waits"]),
            rate_limit_wait_s=float(stats["rate_limit_wait_s"]),
            checkpoints=self.session.checkpoints,
            rows=dict(self.rows),
            state_before=self.session.state_before,
            state_after=self.session.state_after,
            api_total=self.session.total,
            load_ids=list(self.load_ids),
            error=error,
        )


def explain(exc: BaseException) -> str:
    """The most specific one-line reason: our own error if one is in the chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    deepest = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, MegaError) and not isinstance(current, RunFailed):
            return str(current)
        seen.add(id(current))
        deepest = current
        nested = getattr(current, "exception", None)
        current = nested if isinstance(nested, BaseException) else current.__cause__
    return one_line(f"{type(deepest).__name__}: {deepest}")
