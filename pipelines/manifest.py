"""The run manifest: one row per run in `_<source>_runs`, e.g. `_mega_runs` (README: warehouse
contract).

dlt makes the table with a run's first load, from a zero-row stub riding along with it; after
that each run's row is inserted by SQL once the run has finished, since a whole dlt run for one
row costs far more (benchmarks/RESULTS.md). A destination without SQL, or a row with a new
column, goes through dlt instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.destination import DestinationCapabilitiesContext

from pipelines.result import RunResult
from warehouses import Warehouse

log = logging.getLogger("crm_leads.run")

MANIFEST_TABLE = "_mega_runs"  # MEGA's; each source names its own (`_<source>_runs`)
# Declared so that columns which are often NULL (error, totals) exist from the first row.
MANIFEST_COLUMNS: dict[str, Any] = {
    "run_id": {"data_type": "text", "nullable": False},
    "started_at": {"data_type": "timestamp"},
    "finished_at": {"data_type": "timestamp"},
    "duration_s": {"data_type": "double"},
    "rate_limit_wait_s": {"data_type": "double"},
    "max_lateness_s": {"data_type": "double"},
    "high_water_mark_before": {"data_type": "text"},
    "high_water_mark_after": {"data_type": "text"},
    "api_total": {"data_type": "bigint"},
    "warehouse_count": {"data_type": "bigint"},
    "complete": {"data_type": "bool"},
    "stream": {"data_type": "text"},
    "error": {"data_type": "text"},
}

# dlt's own type mapping for the declared columns (timestamps in microseconds, UTC).
_CAPS = DestinationCapabilitiesContext.generic_capabilities()


def manifest_stub(row: dict[str, Any]) -> pa.Table:
    """No rows, the columns of ``row``: loaded with a run's first load so that dlt makes
    `_mega_runs` then, and the run's row can go in by SQL at the end (no extra dlt run)."""
    # dlt's arrow helpers import pyarrow.compute: here, a first run's cost, not every start-up's.
    from dlt.common.libs.pyarrow import get_py_arrow_datatype

    fields = []
    for name, value in row.items():
        hints = MANIFEST_COLUMNS.get(name, {})
        kind = get_py_arrow_datatype(hints, _CAPS, "UTC") if hints else pa.array([value]).type
        # As declared: a differing hint makes dlt warn on every first load.
        fields.append(pa.field(name, kind, hints.get("nullable", True)))
    # dlt adds these to rows loaded from dicts (its fallback for the manifest row).
    fields += [
        pa.field("_dlt_load_id", pa.string(), False),
        pa.field("_dlt_id", pa.string(), False),
    ]
    return pa.schema(fields).empty_table()


class Manifest:
    """Writes a run's row into the warehouse it loaded."""

    def __init__(self, warehouse: Warehouse, source_name: str, table: str) -> None:
        self.warehouse = warehouse
        self.source_name = source_name  # the dlt schema the table belongs to
        self.table = table

    def _schema(self, pipeline: Any) -> Any | None:
        # `pipeline.schemas` is dlt's schema storage: `get` would load a missing schema file.
        known = self.source_name in pipeline.schemas
        return pipeline.schemas[self.source_name] if known else None

    def stub_resource(self, pipeline: Any, row: dict[str, Any]) -> Any | None:
        """The zero-row stub to load with the run's first load, or None when the table exists."""
        schema = self._schema(pipeline)
        if schema is not None and self.table in schema.tables:
            return None
        stub = dlt.resource(
            manifest_stub(row),
            name=self.table,
            write_disposition="append",
            columns=MANIFEST_COLUMNS,
        )
        if self.warehouse.manifest_stub_format is not None:
            stub.apply_hints(file_format=self.warehouse.manifest_stub_format)
        return stub

    def write(self, pipeline: Any, result: RunResult, explain: Callable[[Exception], str]) -> None:
        """The run's row; a failure to write it is a warning, as the run's own outcome matters
        more than its log row."""
        if pipeline.has_pending_data:
            log.warning("run manifest not written: the destination has pending data")
            return
        row = result.manifest_row()
        # Its run's last load id (a fresh one if it loaded nothing): the row lands right after it.
        load_id = result.load_ids[-1] if result.load_ids else f"{time.time():.7f}"
        if self.warehouse.insert_row(pipeline, self.table, row, load_id):
            return
        resource = dlt.resource(
            [row], name=self.table, write_disposition="append", columns=MANIFEST_COLUMNS
        )
        # The source's schema, so the manifest sits beside the lead tables even when the first
        # run failed before the source ever loaded.
        schema = self._schema(pipeline)
        try:
            pipeline.run(
                resource,
                schema=schema or dlt.Schema(self.source_name),
                **self.warehouse.run_options(),
            )
        except Exception as exc:
            log.warning("run manifest not written: %s", explain(exc))
