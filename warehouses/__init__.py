"""Warehouses the runs load into: the kind of destination is recognised here, once, and gets its
`Warehouse` (base.py); what is specific to one kind lives in its own module."""

from __future__ import annotations

import copy
from typing import Any

from dlt.common.destination import Destination
from dlt.common.destination.exceptions import UnknownDestinationModule

from sources.core.errors import ConfigurationError
from warehouses.base import SqlWarehouse, Warehouse
from warehouses.capabilities import capabilities_once

__all__ = ["Warehouse", "check_dataset_name", "resolve_warehouse"]

# What the connector relies on: delete-insert merges on a key (or upsert on a lakehouse table).
NEEDED_MERGE = "delete-insert"


def check_dataset_name(dataset_name: str) -> None:
    """Any destination: an empty name would leave dlt to pick one nobody asked for."""
    if not dataset_name or not dataset_name.strip():
        raise ConfigurationError(
            f"the dataset name must not be empty, got {dataset_name!r} (--dataset, or "
            "dataset_name in Python); give one such as 'mega'"
        )


def resolve_warehouse(
    destination: Any,
    dataset_name: str,
    table_format: str | None = None,
    account: str | None = None,
) -> Warehouse:
    """DuckDB unless told otherwise; any dlt destination (name, factory or instance) that can
    hold the same truth, or a one-line refusal saying why and what to use. Settings are checked
    here, before anything runs; nothing is created. ``account``: one of several loading the same
    dataset, perhaps at once: its merges go through staging tables of its own."""
    check_dataset_name(dataset_name)
    if destination in (None, "duckdb"):
        # Imported here: `python -m warehouses.duckdb` must not find it loaded already.
        from warehouses.duckdb import DuckDbWarehouse, duckdb_destination

        factory = capabilities_once(_own_staging(duckdb_destination(dataset_name), account))
        return DuckDbWarehouse(factory)
    factory = capabilities_once(_own_staging(_factory(destination), account))
    kind = factory.destination_type.rsplit(".", 1)[-1]
    if kind == "duckdb":
        from warehouses.duckdb import DuckDbWarehouse

        return DuckDbWarehouse(factory)
    if kind == "postgres":
        from warehouses.postgres import PostgresWarehouse

        return PostgresWarehouse(factory)
    if kind == "filesystem":
        from warehouses.filesystem import lakehouse_warehouse

        return lakehouse_warehouse(factory, table_format)
    if table_format:
        raise ConfigurationError(
            f"--table-format {table_format} is for the filesystem destination, not {kind}"
        )
    _check_capabilities(factory, kind)
    return SqlWarehouse(factory)


def _own_staging(factory: Any, account: str | None) -> Any:
    """``factory`` (a copy) whose merge staging dataset is ``<dataset>_staging_<account>``:
    dlt truncates and refills the staging tables on every merge, so two accounts loading at
    once through one ``<dataset>_staging`` would load each other's rows, or lose them."""
    if account is None:
        return factory
    own = copy.copy(factory)
    own.config_params = {
        **factory.config_params,
        "staging_dataset_name_layout": f"%s_staging_{account}",
    }
    return own


def _factory(destination: Any) -> Any:
    """The destination's dlt factory, or one line naming an unknown one (dlt's own text is a
    page long)."""
    try:
        return Destination.from_reference(destination)
    except UnknownDestinationModule:
        raise ConfigurationError(
            f"unknown destination {destination!r}: use a dlt destination name such as duckdb, "
            "postgres, sqlalchemy or filesystem (--destination)"
        ) from None


def _check_capabilities(factory: Any, kind: str) -> None:
    """A destination that cannot merge by key would duplicate every changed lead."""
    strategies = factory.capabilities().supported_merge_strategies or []
    if NEEDED_MERGE not in strategies:
        have = ", ".join(strategies) or "none"
        raise ConfigurationError(
            f"destination {kind} cannot merge by key (dlt's merge strategies there: {have}): "
            "every changed lead would be loaded again beside the old row. Use duckdb, postgres, "
            "sqlalchemy, snowflake, bigquery or filesystem --table-format delta"
        )
