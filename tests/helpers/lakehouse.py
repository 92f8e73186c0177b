"""The lakehouse buckets of tests/test_lakehouse.py: a delta or iceberg bucket, its runs and its
tables read back with deltalake / pyiceberg."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import dlt
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from pipelines.result import RunResult
from simulators.mega import SimulatorServer
from tests.helpers import (
    LEAD_COLUMNS,
    run_from,
)


class LakehouseBucket:
    """A `file://` bucket of one test; ``run`` loads from ``sim`` into tables of
    ``table_format`` there. Subclasses read a table with their format's library."""

    table_format: ClassVar[str]

    def __init__(self, root: Path, sim: SimulatorServer) -> None:
        self.bucket = root / "bucket"
        self.pipelines_dir = root / "pipelines"
        self.sim = sim

    def run(self, **options: Any) -> RunResult:
        return run_from(
            self.sim,
            destination=dlt.destinations.filesystem(bucket_url=self.bucket.as_uri()),
            table_format=self.table_format,
            pipelines_dir=str(self.pipelines_dir),
            **options,
        )

    def rows(self, name: str) -> pa.Table | None:
        raise NotImplementedError

    def version(self, name: str) -> int:
        """The table's current version (Delta) or snapshot id (Iceberg)."""
        raise NotImplementedError

    def leads(self) -> dict[str, dict[str, Any]]:
        rows = self.rows("leads")
        if rows is None:
            return {}
        found = {row["id"]: {c: row[c] for c in LEAD_COLUMNS} for row in rows.to_pylist()}
        assert len(found) == len(rows), "a lead twice"
        return found

    def custom_fields(self) -> dict[tuple[str, str], tuple[str | None, str]]:
        rows = self.rows("leads__custom_fields")
        if rows is None:
            return {}
        found = {(r["lead_id"], r["slug"]): (r["value"], r["value_type"]) for r in rows.to_pylist()}
        assert len(found) == len(rows), "a (lead, slug) twice"
        return found


class DeltaBucket(LakehouseBucket):
    table_format = "delta"

    def table(self, name: str) -> DeltaTable | None:
        path = self.bucket / "mega" / name
        return DeltaTable(str(path)) if DeltaTable.is_deltatable(str(path)) else None

    def rows(self, name: str) -> pa.Table | None:
        table = self.table(name)
        return None if table is None else table.to_pyarrow_table()

    def version(self, name: str) -> int:
        table = self.table(name)
        assert table is not None, name
        return table.version()


class IcebergBucket(LakehouseBucket):
    table_format = "iceberg"

    def table(self, name: str) -> Any | None:
        from pyiceberg.catalog.sql import SqlCatalog

        metadata = sorted((self.bucket / "mega" / name / "metadata").glob("*.metadata.json"))
        if not metadata:
            return None
        catalog = SqlCatalog("default", uri="sqlite:///:memory:")
        catalog.create_namespace("mega")
        return catalog.register_table(("mega", name), metadata[-1].as_uri())

    def rows(self, name: str) -> pa.Table | None:
        table = self.table(name)
        return None if table is None else table.scan().to_arrow()

    def version(self, name: str) -> int:
        table = self.table(name)
        assert table is not None, name
        return int(table.current_snapshot().snapshot_id)


BUCKETS: dict[str, type[LakehouseBucket]] = {"delta": DeltaBucket, "iceberg": IcebergBucket}
each_format = pytest.mark.parametrize("bucket", list(BUCKETS), indirect=True)
iceberg_only = pytest.mark.parametrize("bucket", ["iceberg"], indirect=True)
