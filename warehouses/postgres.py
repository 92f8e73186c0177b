"""Postgres: what is specific to loading the lead tables into it.

The load path is parquet through ADBC (`adbc_ingest`, Postgres's binary COPY). dlt's two other
paths are out: its CSV `COPY` marks every nullable column `FORCE_NULL` with `NULL ''`, so a
custom-field value '' is stored as NULL (silent corruption, and no CSV setting changes it), and
rewriting arrow as CSV makes it slower too; `insert_values` keeps '' but is slower still
(benchmarks/RESULTS.md, Postgres section). ADBC cannot
load a zero-row table (dlt retries it, then leaves the package pending), so the manifest's
zero-row stub goes as CSV (it holds no value whose quoting could be lost), with the first load.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from dlt.common.schema.typing import TFileFormat

from sources.core.errors import ConfigurationError
from warehouses.base import SqlWarehouse, dataset_sql_client

INSTALL_HINT = 'pip install -e ".[postgres]"'


def adbc_driver_installed() -> bool:
    """The ADBC Postgres driver dlt loads parquet with (the `adbc-driver-postgresql` wheel)."""
    try:
        from adbc_driver_postgresql import _driver_path

        return bool(_driver_path())
    except Exception:  # not installed, or a wheel without its shared library
        return False


class PostgresWarehouse(SqlWarehouse):
    loader_file_format: ClassVar[str | None] = "parquet"
    manifest_stub_format: ClassVar[TFileFormat | None] = "csv"

    def __init__(self, destination: Any) -> None:
        if self.loader_file_format == "parquet" and not adbc_driver_installed():
            raise ConfigurationError(
                "loading into Postgres needs the ADBC Postgres driver, which is not installed: "
                f"{INSTALL_HINT} (or pip install adbc-driver-postgresql)"
            )
        super().__init__(destination)

    @contextmanager
    def shared_load(self, pipeline: Any, table: str, stop: threading.Event) -> Iterator[None]:
        """While ``table`` does not exist, a load holds the dataset's advisory lock: two
        pipelines creating the same table at once make PostgreSQL refuse the second
        (`pg_type_typname_nsp_index`), leaving its load pending. After the first load, loads
        of several accounts run at once."""
        if self._exists(pipeline, table):
            yield
            return
        # On a connection of its own: the run's may be closed and replaced meanwhile (a query
        # of a table not made yet), which would let the lock go.
        key = f"crm_leads:{pipeline.dataset_name}"
        with dataset_sql_client(pipeline) as client:
            client.execute_sql("SELECT pg_advisory_lock(hashtext(%s))", key)
            try:
                yield
            finally:
                client.execute_sql("SELECT pg_advisory_unlock(hashtext(%s))", key)

    def _exists(self, pipeline: Any, table: str) -> bool:
        def exists(client: Any) -> bool:
            qualified = client.make_qualified_table_name(table)
            rows = client.execute_sql("SELECT to_regclass(%s)", qualified)
            return bool(rows and rows[0][0])

        return self._query(pipeline, exists)
