"""Warehouses the runs load into: the destination is chosen here, once; what is specific to one
kind of destination lives in its own module."""

from __future__ import annotations

from typing import Any

from pipelines.warehouses.duckdb import duckdb_destination


def resolve_destination(destination: Any, dataset_name: str) -> Any:
    """DuckDB unless told otherwise; any other dlt destination (name, factory or instance) as is."""
    if destination in (None, "duckdb"):
        return duckdb_destination(dataset_name)
    return destination
