"""Deletes. The API has no deleted-leads feed (001), so a reconcile sweep lists every lead at the
source and compares ids with the warehouse: leads that vanished are marked (soft: `_deleted_at`
set to the sweep time) or removed with their custom fields (hard); leads that came back or are
missing are loaded again, which makes them live.

Under filters the sweep sees only matching leads, so a lead that stopped matching counts as gone
from that dataset.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from sources.core.endpoint import Shape
from sources.core.sweep.keyset_sweep import KeysetSweep
from sources.core.sweep.loads import Batch, Hints
from sources.core.sweep.options import SweepOptions
from sources.core.sweep.paging import PageStream, StartPosition

from .endpoint import LEADS_KEYSET
from .shaping import (
    CUSTOM_FIELDS_SCHEMA,
    DELETED_AT,
    TIMESTAMP,
    TOMBSTONE,
    with_removed_slugs,
)

log = logging.getLogger("crm_leads.mega")

DELETE_MODES = ("soft", "hard")


@dataclass
class ReconcilePlan:
    """What the warehouse held before the sweep, and how to mark what vanished."""

    live_ids: set[str]
    deleted_ids: set[str]
    mode: str
    swept_at: datetime
    # Reads the vanished leads' rows as loaded (soft mode re-merges them, stamped).
    read_loaded: Callable[[list[str]], pa.Table]
    source_ids: set[str] = field(default_factory=set)
    restored: dict[str, dict[str, Any]] = field(default_factory=dict)
    vanished: list[str] = field(default_factory=list)
    total: int | None = None
    pages: int = 0

    def sweep(
        self, client: Any, options: SweepOptions, interrupt: threading.Event | None = None
    ) -> None:
        start = StartPosition(cursor=None, updated_since=options.initial_since)
        stream = PageStream(
            LEADS_KEYSET,
            client,
            options.params,
            start,
            prefetch=options.prefetch_pages,
            interrupt=interrupt,
        )
        try:
            for page in stream:
                self.pages += 1
                for lead in page.items:
                    lead_id = lead["id"]
                    self.source_ids.add(lead_id)
                    if lead_id not in self.live_ids:
                        self.restored[lead_id] = lead
        finally:
            stream.close()
        self.total = stream.first_total
        loaded = self.live_ids | self.deleted_ids if self.mode == "hard" else self.live_ids
        self.vanished = sorted(loaded - self.source_ids)
        log.info(
            "reconcile: %d leads at the source, %d vanished (%s delete), %d came back or missing",
            len(self.source_ids),
            len(self.vanished),
            self.mode,
            len(self.restored),
        )

    def batches(self, shape: Shape) -> Iterator[tuple[pa.Table, pa.Table | None, bool]]:
        """(leads, custom fields or None) tables to merge."""
        if self.restored:
            rows = list(self.restored.values())
            # The sweep's own shaping (personal data hashed or dropped as it is configured).
            yield (*shape(rows, "reconcile", False), False)
        if not self.vanished:
            return
        loaded_rows = self.read_loaded(self.vanished)
        if self.mode == "soft":
            stamp = pa.array([self.swept_at] * loaded_rows.num_rows, TIMESTAMP)
            index = loaded_rows.schema.get_field_index(DELETED_AT)
            # No custom-field rows: the child merge deletes only the leads present in its load.
            yield loaded_rows.set_column(index, DELETED_AT, stamp), None, False
        else:
            yield (*_hard_delete_rows(self.vanished, loaded_rows.schema), False)


def _hard_delete_rows(ids: list[str], leads_schema: pa.Schema) -> tuple[pa.Table, pa.Table]:
    """Rows flagged with the hard_delete column: dlt deletes their keys and inserts nothing."""
    count = len(ids)
    lead_columns = {
        name: pa.nulls(count, leads_schema.field(name).type) for name in leads_schema.names
    }
    lead_columns["id"] = pa.array(ids, pa.string())
    lead_columns[TOMBSTONE] = pa.array([True] * count, pa.bool_())
    leads = pa.Table.from_pydict(lead_columns, schema=leads_schema)
    field_columns = {
        name: pa.nulls(count, CUSTOM_FIELDS_SCHEMA.field(name).type)
        for name in CUSTOM_FIELDS_SCHEMA.names
    }
    field_columns["lead_id"] = pa.array(ids, pa.string())
    field_columns["slug"] = pa.array([""] * count, pa.string())
    field_columns[TOMBSTONE] = pa.array([True] * count, pa.bool_())
    return leads, pa.Table.from_pydict(field_columns, schema=CUSTOM_FIELDS_SCHEMA)


class ReconcileLoad:
    """The reconcile as one load of the `leads` resource, on the run's client, counters,
    Ctrl-C flag and destination hooks (those of the sweep's session)."""

    one_load = False

    def __init__(self, plan: ReconcilePlan, session: KeysetSweep) -> None:
        self.plan = plan
        self.hooks = session.hooks
        self._session = session

    def batches(self, resource_state: dict[str, Any]) -> Iterator[Batch]:
        session, plan = self._session, self.plan
        plan.sweep(session.client(), session.options, session.stop)
        session.counters.pages += plan.pages
        stored = self.hooks.stored_keys
        for leads, fields, append in plan.batches(session.spec.shape):
            if stored is not None and fields is not None:
                fields = with_removed_slugs(fields, stored)
            yield leads, fields, append

    def table_hints(self, table_format: str | None) -> tuple[Hints, Hints]:
        return self._session.table_hints(table_format)

    def close(self) -> None:
        """The session it runs on is the runner's to close."""
