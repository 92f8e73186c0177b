"""What a run reports: a typed result for orchestrators, and one-line failure reasons."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from dlt.common.pipeline import LoadInfo

from sources.core.errors import ConnectorError
from sources.core.sweep.counters import RunCounters, plural


class StreamFilters(Protocol):
    """A source's filter set: its stream's key in the state, and what it names."""

    @property
    def stream_key(self) -> str: ...

    def describe(self) -> dict[str, str]: ...


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
    warehouse_count: int | None = None
    stream: str | None = None
    filters: dict[str, str] = field(default_factory=dict)
    details: int = 0  # detail requests (Leads v1: new or changed leads)
    lookback_rereads: int = 0
    late_changes: int = 0
    max_lateness_s: float = 0.0
    reconciled: bool = False
    deleted: int = 0
    restored: int = 0
    recovered_pending: bool = False
    load_ids: list[str] = field(default_factory=list)
    error: str | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # Where the rows went ("duckdb /path/leads.duckdb"); the manifest sits there already.
    location: str = ""
    # What the source's mark is, in the summary (Leads v1: its newest created_at).
    mark: str = "high-water mark"
    account: str | None = None  # one of several (README: Many accounts)

    @property
    def high_water_mark_before(self) -> str | None:
        return (self.state_before or {}).get("high_water_mark")

    @property
    def high_water_mark_after(self) -> str | None:
        return (self.state_after or self.state_before or {}).get("high_water_mark")

    @property
    def complete(self) -> bool | None:
        """After a full sweep: does the API's `total` match the live leads loaded?"""
        if self.api_total is None or self.warehouse_count is None:
            return None
        return self.api_total == self.warehouse_count

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def manifest_row(self) -> dict[str, Any]:
        """The row written to `_mega_runs`: flat, state as JSON text."""
        skipped = ("state_before", "state_after", "location", "mark")
        row = {k: v for k, v in asdict(self).items() if k not in skipped}
        if self.account is None:  # the single account's manifest keeps its columns
            del row["account"]
        row["rows"] = json.dumps(self.rows, sort_keys=True)
        row["filters"] = json.dumps(self.filters, sort_keys=True)
        row["load_ids"] = json.dumps(self.load_ids)
        row["high_water_mark_before"] = self.high_water_mark_before
        row["high_water_mark_after"] = self.high_water_mark_after
        row["complete"] = self.complete
        return row

    def summary(self) -> str:
        rows = ", ".join(f"{table} {count}" for table, count in sorted(self.rows.items()))
        extra = ""
        if self.reconciled:
            extra += f"; reconcile: {self.deleted} deleted, {self.restored} restored"
        elif self.deleted:
            extra += f"; {self.deleted} deleted at the source"
        if self.lookback_rereads:
            extra += f"; lookback re-read {self.lookback_rereads}, {self.late_changes} late"
        if self.recovered_pending:
            extra += "; an earlier run's pending load was finished first"
        if self.complete is not None:
            extra += f"; API total {self.api_total} vs warehouse {self.warehouse_count}"
        into = f" into {self.location or self.destination}, dataset {self.dataset_name}"
        account = f"{self.account}: " if self.account is not None else ""
        return (
            f"{account}{self.outcome}: {plural(self.leads, 'lead')} in "
            f"{plural(self.pages, 'page')}{into}, "
            f"{self.requests} requests ({self.retries} retries, {self.rate_limit_waits} "
            f"rate-limit waits), {plural(self.checkpoints, 'checkpoint')} "
            f"in {self.duration_s:.1f} s; "
            f"rows loaded: {rows or 'none'}; {self.mark} {self.high_water_mark_before} "
            f"-> {self.high_water_mark_after}{extra}"
        )


class RunFailed(ConnectorError):
    """A run that stopped early. ``result`` says how far it got (committed checkpoints stay)."""

    def __init__(self, reason: str, result: RunResult) -> None:
        super().__init__(reason)
        self.result = result

    @property
    def interrupted(self) -> bool:
        """Stopped by Ctrl-C or SIGTERM (a caller running several stops too)."""
        return self.result.outcome == "interrupted"


class RunTracker:
    def __init__(
        self,
        pipeline: Any,
        counters: RunCounters,
        filters: StreamFilters,
        account: str | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.account = account
        self.counters = counters
        self.filters = filters
        # Deletes: set by the run once its reconcile (MEGA) or sweep (Leads v1) has found them.
        self.reconciled = False
        self.deleted = 0
        self.restored = 0
        self.started_at = datetime.now(timezone.utc)
        self._t0 = time.monotonic()
        self.rows: dict[str, int] = {}
        self.load_ids: list[str] = []
        self.api_total: int | None = None
        self.warehouse_count: int | None = None
        self.recovered_pending = False
        # Rows per table of an earlier run's package that this run loaded (see runner).
        self.recovered_rows: dict[str, int] = {}
        self._location: str | None = None
        self.mark = "high-water mark"  # the source's word for it (``SourceTables.mark``)

    def loaded(self, info: LoadInfo) -> None:
        self.load_ids.extend(info.loads_ids)
        trace = self.pipeline.last_trace
        normalize = trace.last_normalize_info if trace else None
        if normalize is None:
            return
        for table, count in normalize.row_counts.items():
            if not table.startswith("_"):
                self.rows[table] = self.rows.get(table, 0) + count

    def location(self) -> str:
        """The destination and, for a file or a database, its name (never credentials)."""
        if self._location is None:
            destination = self.pipeline.destination
            name = str(destination.destination_name) if destination else ""
            try:
                credentials = self.pipeline.destination_client().config.credentials
                database = getattr(credentials, "database", None)
            except Exception:  # no credentials resolvable: the name is all there is
                database = None
            self._location = f"{name} {database}" if database else name
        return self._location

    def finish(self, error: str | None = None, interrupted: bool = False) -> RunResult:
        counters = self.counters
        stats = counters.stats.snapshot()
        rows = dict(self.rows)
        for table, count in self.recovered_rows.items():
            rows[table] = rows.get(table, 0) + count
        outcome = "interrupted" if interrupted else "failed" if error else "success"
        return RunResult(
            account=self.account,
            outcome=outcome,
            pipeline_name=self.pipeline.pipeline_name,
            dataset_name=self.pipeline.dataset_name,
            destination=str(self.pipeline.destination.destination_name)
            if self.pipeline.destination
            else "",
            started_at=self.started_at,
            finished_at=datetime.now(timezone.utc),
            duration_s=round(time.monotonic() - self._t0, 3),
            pages=counters.pages,
            leads=counters.items + self.recovered_rows.get("leads", 0),
            requests=int(stats["requests"]),
            retries=int(stats["retries"]),
            rate_limit_waits=int(stats["rate_limit_waits"]),
            rate_limit_wait_s=float(stats["rate_limit_wait_s"]),
            checkpoints=counters.checkpoints,
            rows=rows,
            state_before=counters.state_before,
            state_after=counters.state_after,
            api_total=self.api_total,
            warehouse_count=self.warehouse_count,
            stream=self.filters.stream_key,
            filters=self.filters.describe(),
            details=counters.details,
            lookback_rereads=counters.rereads,
            late_changes=counters.late_changes,
            max_lateness_s=counters.max_lateness_s,
            reconciled=self.reconciled and not error,
            deleted=self.deleted + counters.vanished,
            restored=self.restored,
            recovered_pending=self.recovered_pending,
            load_ids=list(self.load_ids),
            error=error,
            location=self.location(),
            mark=self.mark,
        )
