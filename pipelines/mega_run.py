"""One run of the MEGA source: the keyset sweep in checkpoints, then the optional reconcile and
the completeness check (the API's `total` against the live leads loaded)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any

from pipelines.keyset_run import KeysetRun
from pipelines.runner import SourceTables
from sources.core.errors import ConfigurationError
from sources.core.sweep.sweep_stream import FetchAhead
from sources.mega import hints, mega
from sources.mega.config import SourceConfig
from sources.mega.reconcile import DELETE_MODES, ReconcileLoad, ReconcilePlan
from sources.mega.shaping import LEADS_SCHEMA, parse_timestamp
from warehouses import Warehouse

TABLES = SourceTables(source="mega", resource="leads", manifest="_mega_runs", leads=hints.TABLES)


class MegaRun(KeysetRun):
    """The keyset sweep, with the fetch process ahead of a likely backfill, lookback, and after
    it the reconcile and the completeness check."""

    def __init__(
        self,
        pipeline: Any,
        warehouse: Warehouse,
        config: SourceConfig,
        full_refresh: bool = False,
        reconcile: bool = False,
        delete_mode: str = "soft",
        discard_pending: bool = False,
    ) -> None:
        if delete_mode not in DELETE_MODES:
            raise ConfigurationError(f"delete_mode must be 'soft' or 'hard', got {delete_mode!r}")
        super().__init__(
            pipeline,
            warehouse,
            config,
            full_refresh,
            discard_pending,
            tables=TABLES,
            dlt_source=mega,
        )
        self.reconcile = reconcile
        self.delete_mode = delete_mode
        if reconcile:
            self._after_sweep_stage = "during the reconcile"
        if warehouse.custom_fields_upsert and not warehouse.deletes_by_lead:
            self.hooks = dataclasses.replace(
                self.hooks,
                # Read at call time: `--discard-pending` replaces the pipeline.
                stored_keys=lambda ids: warehouse.child_keys(
                    self.pipeline, hints.FIELDS_TABLE, ids
                ),
            )
        self.ahead = FetchAhead()
        self.reconcile_plan: ReconcilePlan | None = None

    def _close(self) -> None:
        super()._close()
        self.ahead.close()

    def _sweep(self) -> None:
        if self._backfill_likely() and self.config.sweep_options().may_use_fetch_process:
            self.ahead.start()
        super()._sweep()

    def _session_options(self, refresh: Any) -> dict[str, Any]:
        return {
            "known_versions": self._known_versions() if refresh is None else None,
            "ahead": self.ahead,
        }

    def _after_sweep(self) -> None:
        if self.reconcile:
            self._reconcile()
        self._check_completeness()

    def _backfill_likely(self) -> bool:
        """No mark in the local state (a first run, or a new machine), a sweep left half-way,
        or a full refresh: a long sweep is likely, and its fetch process can start right away."""
        if self.full_refresh:
            return True
        state = self._stream_state()
        return not state.get("high_water_mark") or bool(state.get("cursor"))

    def _known_versions(self) -> dict[str, str] | None:
        """Lookback: the versions loaded inside the window the sweep re-reads."""
        if not self.config.lookback:
            return None
        mark = self._stream_state().get("high_water_mark")
        if not mark:
            return None
        since = parse_timestamp(mark) - self.config.lookback
        return self.warehouse.versions_since(self.pipeline, hints.LEADS, since)

    def _reconcile(self) -> None:
        assert self.session is not None  # the sweep ran first
        # One of several accounts: its own rows only (the others' ids are not at this API).
        live, deleted = self.warehouse.live_and_deleted_ids(self.pipeline, hints.LEADS, self._mine)
        plan = self.reconcile_plan = ReconcilePlan(
            live_ids=live,
            deleted_ids=deleted,
            mode=self.delete_mode,
            swept_at=datetime.now(timezone.utc),
            read_loaded=lambda ids: self.warehouse.lead_rows(
                self.pipeline, hints.LEADS, ids, LEADS_SCHEMA
            ),
        )
        try:
            self._reconcile_checkpoints(plan)
        finally:
            plan.close()
        tracker = self.tracker
        tracker.reconciled = True
        tracker.deleted, tracker.restored = len(plan.vanished), plan.restored_count

    def _reconcile_checkpoints(self, plan: ReconcilePlan) -> None:
        """One ``pipeline.run`` per checkpoint of the reconcile until it judged the vanished
        leads; a failure is raised once the pages before it are committed."""
        assert self.session is not None
        while True:
            self._raise_if_stopped()
            with self.shared_load():
                self._committed(
                    self.pipeline.run(
                        self._source(ReconcileLoad(plan, self.session)),
                        **self.warehouse.run_options(),
                    )
                )
            # Its state row holds every id seen so far (2.1 MB per 100k): the older ones go.
            self.warehouse.prune_state_history(self.pipeline)
            if plan.failure is not None:
                raise plan.failure
            if plan.done:
                return

    def _check_completeness(self) -> None:
        """After a sweep over every lead, the API's `total` must equal the live leads loaded."""
        plan = self.reconcile_plan
        before = self.counters.state_before or {}
        # Only a sweep that began at the first lead has the API's total for every lead: a
        # resumed one (a cursor, or parallel ranges left half-way) counts only what was left.
        full_sweep = plan is not None or (
            not before.get("high_water_mark")
            and not before.get("cursor")
            and not before.get("ranges")
            and not self.config.filters.describe()
        )
        if not full_sweep:
            return
        self.tracker.api_total = plan.total if plan is not None else self.counters.total
        self.tracker.warehouse_count = self.warehouse.live_count(
            self.pipeline, hints.LEADS, self._mine
        )
