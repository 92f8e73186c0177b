"""Warehouses the runs load into: the destination is chosen here, once; what is specific to one
kind of destination lives in its own module."""

from __future__ import annotations

from typing import Any

from sources.mega.errors import ConfigurationError


def check_dataset_name(dataset_name: str) -> None:
    """Any destination: an empty name would leave dlt to pick one nobody asked for."""
    if not dataset_name or not dataset_name.strip():
        raise ConfigurationError(
            f"the dataset name must not be empty, got {dataset_name!r} (--dataset, or "
            "dataset_name in Python); give one such as 'mega'"
        )


def resolve_destination(destination: Any, dataset_name: str) -> Any:
    """DuckDB unless told otherwise; any other dlt destination (name, factory or instance) as is.
    Settings are checked here, before anything runs; nothing is created."""
    check_dataset_name(dataset_name)
    if destination in (None, "duckdb"):
        # Imported here: `python -m pipelines.warehouses.duckdb` must not find it loaded already.
        from pipelines.warehouses.duckdb import duckdb_destination

        return duckdb_destination(dataset_name)
    return destination
