"""The filesystem destination (``--destination filesystem``, its bucket in
``DESTINATION__FILESYSTEM__BUCKET_URL``): the table format picks the warehouse, Delta
(lakehouse.py) or Iceberg (iceberg.py).

Refused, before any request: plain files (no table format: dlt can only append, so every
incremental and reconcile would add duplicates), and a missing bucket URL.
"""

from __future__ import annotations

from typing import Any

import dlt

from sources.core.errors import ConfigurationError
from warehouses.iceberg import IcebergWarehouse
from warehouses.lakehouse import LakehouseWarehouse

# The table formats that can hold the same truth as DuckDB, each with its warehouse.
WAREHOUSES: dict[str, type[LakehouseWarehouse]] = {
    "delta": LakehouseWarehouse,
    "iceberg": IcebergWarehouse,
}
TABLE_FORMATS = tuple(WAREHOUSES)


def table_format_setting() -> str | None:
    """``--table-format``'s setting: ``[destination.filesystem] table_format``."""
    value = dlt.config.get("destination.filesystem.table_format", str)
    return (value.strip().lower() or None) if value else None


def lakehouse_warehouse(factory: Any, table_format: str | None = None) -> LakehouseWarehouse:
    """The filesystem destination's warehouse, or one line saying why it cannot hold the same
    truth as DuckDB and what to use instead."""
    table_format = (table_format or table_format_setting() or "").lower() or None
    if table_format is None:
        raise ConfigurationError(
            "the filesystem destination without a table format only appends files: every "
            "incremental and reconcile would add duplicate leads and no lead or slug could be "
            "deleted; use --table-format delta (setting DESTINATION__FILESYSTEM__TABLE_FORMAT) "
            "or a database destination such as duckdb or postgres"
        )
    if table_format not in WAREHOUSES:
        raise ConfigurationError(
            f"unknown table format {table_format!r} (--table-format, setting "
            f"DESTINATION__FILESYSTEM__TABLE_FORMAT); use {' or '.join(TABLE_FORMATS)}"
        )
    _check_bucket_url(factory)
    return WAREHOUSES[table_format](factory)


def _check_bucket_url(factory: Any) -> None:
    """A missing bucket URL is dlt's page-long config error at the first load: one line now."""
    given = getattr(factory, "config_params", {}).get("bucket_url")
    if not given and not dlt.config.get("destination.filesystem.bucket_url", str):
        raise ConfigurationError(
            "the filesystem destination needs a bucket URL: set DESTINATION__FILESYSTEM__"
            "BUCKET_URL (e.g. file:///data/mega or s3://bucket/path) or bucket_url under "
            "[destination.filesystem] in config.toml"
        )
