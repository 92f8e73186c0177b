"""Small batch sizes for a test: how many items are shaped and handed to dlt at a time (core
sweep options), and the destination's row group (the DuckDB warehouse's)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from sources.mega.config import SourceConfig
from warehouses.duckdb import DuckDbWarehouse


def small_batches(
    monkeypatch: pytest.MonkeyPatch, shape_rows: int, yield_rows: int, row_group: int | None = None
) -> None:
    sweep_options = SourceConfig.sweep_options

    def smaller(config: SourceConfig) -> Any:
        options = sweep_options(config)
        return dataclasses.replace(options, shape_rows=shape_rows, yield_rows=yield_rows)

    monkeypatch.setattr(SourceConfig, "sweep_options", smaller)
    if row_group is not None:
        # The parquet writer's row group, and the one the batches are cut to.
        monkeypatch.setattr(DuckDbWarehouse, "row_group", row_group)
