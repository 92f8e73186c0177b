"""One run of a source whose list endpoint is an ``EndpointSpec`` (ordered by ``updated_at``,
keyset cursors): the keyset sweep in checkpoints. A source needs no run class of its own unless
it adds work (MEGA: lookback, reconcile, completeness, the fetch process).

What it asks of the source's settings spec: ``endpoint()``, ``sweep_options()``,
``open_client(stats, sleep)``, ``filters`` and ``pii_policy()``; of its dlt source function:
``dlt_source(config=…, sweep=…)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pipelines.progress import Progress
from pipelines.runner import CheckpointedRun, SourceTables
from sources.core.columns import LeadTables
from sources.core.sweep.keyset_sweep import KeysetSweep


class KeysetRun(CheckpointedRun):
    session: KeysetSweep | None

    def _sweep(self) -> None:
        refresh: Any = "drop_resources" if self.full_refresh else None
        self._sync()
        leads = self.tables.leads.leads
        self.session = KeysetSweep(
            self.config.endpoint(),
            self.config.sweep_options(),
            self.config.open_client,
            counters=self.counters,
            stop=self.stop,
            hooks=self.hooks,
            # Empty lead tables: a backfill's loads may be appended (core/sweep/append.py).
            empty_table=bool(refresh) or self.warehouse.lead_count(self.pipeline, leads) == 0,
            progress=Progress(),
            **self._session_options(refresh),
        )
        self._load_checkpoints(self.session, refresh)

    def _session_options(self, refresh: Any) -> dict[str, Any]:
        """What a subclass adds to the sweep (see ``KeysetSweep``)."""
        return {}


def keyset_run(
    dlt_source: Callable[..., Any], name: str, resource: str, tables: LeadTables
) -> Callable[..., KeysetRun]:
    """A registry entry's run class for a keyset source: ``name`` its dlt source (and manifest
    ``_<name>_runs``), ``resource`` the resource whose state holds its streams."""
    declared = SourceTables(source=name, resource=resource, manifest=f"_{name}_runs", leads=tables)
    return functools.partial(KeysetRun, tables=declared, dlt_source=dlt_source)
