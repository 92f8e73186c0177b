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
        if not self.fs.exists(self.root):
            return set()
        return {
            path.rstrip("/").rsplit("/", 1)[-1]
            for path in self.fs.ls(self.root, detail=False, refresh=True)
            if self.fs.isdir(path) and self.fs.find(path)
        }

    def _metadata(self, table: str) -> list[str]:
        return sorted(self.fs.glob(f"{self._folder(table)}/metadata/*.metadata.json"))

    def _arrow(self, table: str) -> pa.Table:
        folder = self._folder(table)
        if self.fs.exists(f"{folder}/_delta_log"):
            from deltalake import DeltaTable

            return DeltaTable(
                folder, storage_options=self.bucket.delta_options()
            ).to_pyarrow_table()
        metadata = self._metadata(table)
        assert metadata, f"{folder} is neither a delta nor an iceberg table"
        return self._iceberg(table, f"s3://{metadata[-1]}").scan().to_arrow()

    def _iceberg(self, table: str, metadata: str) -> Any:
        from pyiceberg.catalog.sql import SqlCatalog

        catalog = SqlCatalog(
            "default", uri="sqlite:///:memory:", **self.bucket.iceberg_properties()
        )
        catalog.create_namespace(self.dataset)
        return catalog.register_table((self.dataset, table), metadata)

    def columns(self, table: str) -> list[str]:
        if table not in self.tables():
            return []
        return list(self._arrow(table).schema.names)

    def rows(self, table: str) -> list[Row]:
        if table not in self.tables():
            return []
        rows: list[Row] = self._arrow(table).to_pylist()
        return rows
