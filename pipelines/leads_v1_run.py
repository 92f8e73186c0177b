"""One run of the Leads v1 source: the list + detail sweep in checkpoints, judged against what
the warehouse held when the run began (new, changed and vanished leads)."""

from __future__ import annotations

from typing import Any

from pipelines.progress import Progress
from pipelines.runner import CheckpointedRun, SourceTables
from sources.core.sweep.detail_sweep import DetailSweep
from sources.core.sweep.known import KnownVersions
from sources.leads_v1 import hints, leads_session, leads_v1
from sources.leads_v1.config import SourceConfig
from sources.leads_v1.shaping import LEADS_SCHEMA

TABLES = SourceTables(
    source="leads_v1",
    resource="leads",
    manifest="_leads_v1_runs",
    leads=hints.TABLES,
    mark="newest created_at",
)


class LeadsV1Run(CheckpointedRun):
    session: DetailSweep | None
    config: SourceConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, tables=TABLES, dlt_source=leads_v1, **kwargs)

    def _sweep(self) -> None:
        refresh: Any = "drop_resources" if self.full_refresh else None
        self._sync()
        known = (
            KnownVersions.nothing()
            if refresh
            else KnownVersions.from_table(
                self.warehouse.live_versions(
                    self.pipeline, hints.LEADS, {**self.config.filters.describe(), **self._mine}
                ),
                "created_at",
                "updated_at",
            )
        )
        self.session = leads_session(
            self.config,
            known=known,
            read_loaded=lambda ids: self.warehouse.lead_rows(
                self.pipeline, hints.LEADS, ids, LEADS_SCHEMA
            ),
            counters=self.counters,
            stop=self.stop,
            hooks=self.hooks,
            progress=Progress(),
        )
        self._load_checkpoints(self.session, refresh)
