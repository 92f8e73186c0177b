"""What a load hands dlt: batches of (rows, child rows, append), and the destination's hooks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import dlt
import pyarrow as pa

from sources.core.endpoint import StoredKeys
from sources.core.pii import PiiPolicy

# (rows, child rows or None, append): see ``append.py``.
Batch = tuple[pa.Table, pa.Table | None, bool]
# dlt hints of (the rows table, the child rows table or None).
Hints = tuple[Any, Any]


@dataclass(frozen=True)
class DestinationHooks:
    """What the destination needs of the batches, decided by the runner."""

    # Lakehouse tables (upsert by key, no delete by parent): the table format, and the child
    # keys stored for given parents, so that removed ones get tombstone rows.
    table_format: str | None = None
    stored_keys: StoredKeys | None = None
    # Where the connector deletes by parent itself (Iceberg): called on each merged batch first.
    before_load: Callable[[pa.Table, pa.Table | None], tuple[pa.Table, pa.Table | None]] | None = (
        None
    )
    # Checks each batch of rows before dlt sees it, raising to stop the load (several accounts
    # in one dataset: a lead id another account's rows hold).
    check_rows: Callable[[pa.Table], None] | None = None
    # The destination's row group (rows), when whole ones load faster (DuckDB): child rows go to
    # dlt in whole multiples of it, the rest carried to the load's next item.
    row_group: int | None = None


class Load(Protocol):
    """One resource call's batches: a checkpoint of a sweep, or a reconcile."""

    hooks: DestinationHooks
    one_load: bool  # no runner: this load reads everything, and its end closes the load

    def batches(self, resource_state: dict[str, Any]) -> Iterator[Batch]: ...

    def table_hints(self, table_format: str | None) -> tuple[Hints, Hints]: ...

    def close(self) -> None: ...


def dlt_items(load: Load, pii_policy: PiiPolicy) -> Iterator[Any]:
    """The load's batches as dlt items, each table with its own hints (resource-level column
    hints would leak into the child table): every source's resource is this. Its state records
    the personal-data rules the rows were shaped under, committed with them (core/pii.py)."""
    resource_state = dlt.current.resource_state()
    pii_policy.record(resource_state)
    hooks = load.hooks
    merge, appended = load.table_hints(hooks.table_format)
    if hooks.before_load is not None:
        # The destination deletes each merged batch's child rows by parent first (Iceberg): its
        # child rows are then new, appended as a backfill's are.
        merge = (merge[0], appended[1])
    try:
        for rows, child_rows, append in load.batches(resource_state):
            if hooks.check_rows is not None:
                hooks.check_rows(rows)
            if hooks.before_load is not None and not append:
                rows, child_rows = hooks.before_load(rows, child_rows)
            row_hints, child_hints = appended if append else merge
            yield dlt.mark.with_hints(rows, row_hints, create_table_variant=True)
            if child_rows is not None:
                yield dlt.mark.with_hints(child_rows, child_hints, create_table_variant=True)
    finally:
        if load.one_load:
            load.close()
