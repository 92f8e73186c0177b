"""Deletes. The API has no deleted-leads feed (001), so a reconcile sweep lists every lead at the
source and compares ids with the warehouse: leads that vanished are marked (soft: `_deleted_at`
set to the sweep time) or removed with their custom fields (hard); leads that came back or are
missing are loaded again, which makes them live.

Under filters the sweep sees only matching leads, so a lead that stopped matching counts as gone
from that dataset.

The sweep is checkpointed: each load commits its cursor and the ids seen so far with its rows,
and deletes are judged only when every page was seen, so a stopped reconcile resumes where it
was committed. Ids rather than `updated_at` spans: a lead updated mid-sweep leaves its span
(it is seen again at the end of the sort), which span-by-span judgement would take for a
delete. A lead deleted behind the cursor after its page was read is the next reconcile's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from sources.core.endpoint import Shape
from sources.core.errors import ConnectorError, Interrupted
from sources.core.sweep.keyset_sweep import KeysetSweep
from sources.core.sweep.loads import Batch, Hints
from sources.core.sweep.options import SweepOptions
from sources.core.sweep.paging import PageStream, StartPosition
from sources.core.sweep.seen_ids import pack_ids, unpack_ids

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
# The resource state's entry of a reconcile between checkpoints, per filter set.
RECONCILE_STATE = "reconcile"


@dataclass
class ReconcilePlan:
    """What the warehouse held before the sweep, how to mark what vanished, and where the sweep
    is: read in checkpoints, each committed with its progress (``read``), and judged only once
    every page was seen, so that an interrupted or failed reconcile resumes at its cursor."""

    live_ids: set[str]
    deleted_ids: set[str]
    mode: str
    swept_at: datetime
    # Reads the vanished leads' rows as loaded (soft mode re-merges them, stamped).
    read_loaded: Callable[[list[str]], pa.Table]
    source_ids: set[str] = field(default_factory=set)
    restored: dict[str, dict[str, Any]] = field(default_factory=dict)  # this checkpoint's
    restored_count: int = 0
    vanished: list[str] = field(default_factory=list)
    total: int | None = None
    pages: int = 0  # this checkpoint's
    done: bool = False
    resumed_at: str | None = None  # the cursor a resumed reconcile continued from
    failure: ConnectorError | None = None  # what stopped the sweep; raised once committed
    _stream: PageStream | None = None
    _new_ids: set[str] = field(default_factory=set)  # this checkpoint's

    def read(
        self,
        client: Any,
        options: SweepOptions,
        interrupt: threading.Event,
        progress: dict[str, Any],
    ) -> None:
        """One checkpoint: pages until its budget is spent, the sweep ends, fails or is
        interrupted; ``progress`` (resource state) moves over exactly the pages read."""
        self.restored, self.pages, self._new_ids = {}, 0, set()
        stream = self._open(client, options, interrupt, progress)
        started = time.monotonic()
        while not self.done and self.failure is None:
            if interrupt.is_set():
                self.failure = Interrupted("interrupted between pages")
                break
            try:
                page = next(stream)
            except StopIteration:
                self.done = True  # an empty first answer
                break
            except ConnectorError as exc:
                self.failure = exc
                break
            self._take(page.items)
            progress["cursor"] = page.next_cursor
            self.done = page.next_cursor is None
            if self.total is None:
                self.total = stream.first_total
            budget_spent = (
                self.pages >= options.checkpoint_pages
                or time.monotonic() - started >= options.checkpoint_seconds
            )
            if budget_spent:
                break
        self.restored_count += len(self.restored)
        if self.done:
            self.close()
            self._judge()
        else:
            # One packed chunk per checkpoint: packing stays linear in the leads swept.
            progress.setdefault("seen", []).append(pack_ids(self._new_ids))

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _open(
        self,
        client: Any,
        options: SweepOptions,
        interrupt: threading.Event,
        progress: dict[str, Any],
    ) -> PageStream:
        if self._stream is not None:
            return self._stream  # the same stream across this run's checkpoints
        cursor = progress.get("cursor")
        if cursor and options.lookback:
            # With a lookback, runs since the stop may have loaded leads committed late behind
            # the cursor: unseen by a resumed sweep, they would be taken for deleted.
            log.info("a reconcile with a lookback starts again from the first page")
            progress.clear()
            cursor = None
        if cursor:
            self.resumed_at = cursor
            self.source_ids = set().union(*map(unpack_ids, progress.get("seen", [])))
            log.info(
                "reconcile resumes at the cursor of an interrupted one (%d leads seen)",
                len(self.source_ids),
            )
        # A saved cursor the API rejects falls back to the beginning: the seen ids stay true.
        start = StartPosition(cursor=cursor, updated_since=options.initial_since)
        self._stream = PageStream(
            LEADS_KEYSET,
            client,
            # Every lead of the account, whatever the run's filters: they narrow what is loaded,
            # not what exists (a filtered sweep would take every lead outside it for deleted).
            LEADS_KEYSET.params,
            start,
            prefetch=options.prefetch_pages,
            interrupt=interrupt,
        )
        return self._stream

    def _take(self, leads: list[dict[str, Any]]) -> None:
        self.pages += 1
        for lead in leads:
            lead_id = lead["id"]
            self.source_ids.add(lead_id)
            self._new_ids.add(lead_id)
            if lead_id not in self.live_ids:
                self.restored[lead_id] = lead  # a later version (seen again) replaces it

    def _judge(self) -> None:
        loaded = self.live_ids | self.deleted_ids if self.mode == "hard" else self.live_ids
        self.vanished = sorted(loaded - self.source_ids)
        log.info(
            "reconcile: %d leads at the source, %d vanished (%s delete), %d came back or missing",
            len(self.source_ids),
            len(self.vanished),
            self.mode,
            self.restored_count,
        )

    def batches(self, shape: Shape) -> Iterator[tuple[pa.Table, pa.Table | None, bool]]:
        """This checkpoint's (leads, custom fields or None) tables to merge; the vanished leads'
        once the sweep is done."""
        if self.restored:
            rows = list(self.restored.values())
            # The sweep's own shaping (personal data hashed or dropped as it is configured).
            yield (*shape(rows, "reconcile", False), False)
        if not self.done or not self.vanished:
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
    """One checkpoint of the reconcile as a load of the `leads` resource, on the run's client,
    counters, Ctrl-C flag and destination hooks (those of the sweep's session). Its progress
    (cursor, ids seen) is in the resource state under ``reconcile``, committed with the load,
    and gone with the load that judges the vanished leads."""

    one_load = False

    def __init__(self, plan: ReconcilePlan, session: KeysetSweep) -> None:
        self.plan = plan
        self.hooks = session.hooks
        self._session = session

    def batches(self, resource_state: dict[str, Any]) -> Iterator[Batch]:
        session, plan = self._session, self.plan
        key = session.options.stream_key
        sweeps = resource_state.setdefault(RECONCILE_STATE, {})
        plan.read(session.client(), session.options, session.stop, sweeps.setdefault(key, {}))
        session.counters.pages += plan.pages
        if plan.done:
            del sweeps[key]
        if plan.failure is not None and not plan.pages:
            raise plan.failure  # nothing read in this checkpoint: nothing to commit
        stored = self.hooks.stored_keys
        for leads, fields, append in plan.batches(session.spec.shape):
            if stored is not None and fields is not None:
                fields = with_removed_slugs(fields, stored)
            yield leads, fields, append

    def table_hints(self, table_format: str | None) -> tuple[Hints, Hints]:
        return self._session.table_hints(table_format)

    def close(self) -> None:
        """The session it runs on is the runner's to close."""
