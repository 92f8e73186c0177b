"""Read the connector's delta and iceberg tables back from an S3 bucket, with each format's own
library and the bucket's credentials (as `FilesystemReader` does for a local folder): deltalake
with object_store's storage options; pyiceberg with an in-memory SQL catalog in which the table
is registered from its newest metadata file, as dlt does. Listing goes through s3fs."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from tests.s3 import S3Bucket
from tests.warehouse_readers import DATASET, Row


class BucketReader:
    """A dataset folder of dlt's filesystem destination on S3: one folder per table."""

    def __init__(self, bucket: S3Bucket, dataset: str = DATASET) -> None:
        self.bucket = bucket
        self.dataset = dataset
        self.root = f"{bucket.url}/{dataset}"
        self.fs = bucket.filesystem()

    def _folder(self, table: str) -> str:
        return f"{self.root}/{table}"

    def tables(self) -> set[str]:
        """The folders under the dataset holding a file (one recursive listing)."""
        if not self.fs.exists(self.root):
            return set()
        root = self.root.removeprefix("s3://")
        return {path[len(root) + 1 :].split("/", 1)[0] for path in self.fs.find(root)} - {""}

    def _arrow(self, table: str) -> pa.Table | None:
        """The table as its format's library reads it; None when there is none."""
        folder = self._folder(table)
        if self.fs.exists(f"{folder}/_delta_log"):
            from deltalake import DeltaTable

            delta = DeltaTable(folder, storage_options=self.bucket.delta_options())
            return delta.to_pyarrow_table()
        metadata = sorted(self.fs.glob(f"{folder}/metadata/*.metadata.json"))
        if not metadata:
            return None
        return self._iceberg(table, f"s3://{metadata[-1]}").scan().to_arrow()

    def _iceberg(self, table: str, metadata: str) -> Any:
        from pyiceberg.catalog.sql import SqlCatalog

        catalog = SqlCatalog(
            "default", uri="sqlite:///:memory:", **self.bucket.iceberg_properties()
        )
        catalog.create_namespace(self.dataset)
        return catalog.register_table((self.dataset, table), metadata)

    def columns(self, table: str) -> list[str]:
        found = self._arrow(table)
        return [] if found is None else list(found.schema.names)

    def rows(self, table: str) -> list[Row]:
        found = self._arrow(table)
        rows: list[Row] = [] if found is None else found.to_pylist()
        return rows
