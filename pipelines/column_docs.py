"""What the data dictionary and the dbt sources share: the column descriptions of
``docs/columns.toml``, a column's entry there, the loaded tables of a live dlt schema, and the
schemas of every registered source loaded from its simulator."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit

DOCS = Path(__file__).resolve().parents[1] / "docs"
COLUMNS = DOCS / "columns.toml"


def descriptions() -> dict[str, Any]:
    # tomlkit (dlt's own TOML library): Python 3.10 has no tomllib.
    parsed: dict[str, Any] = tomlkit.parse(COLUMNS.read_text(encoding="utf-8")).unwrap()
    return parsed


def entry(
    known: Mapping[str, Any], schema: str, table: str, column: str
) -> Mapping[str, Any] | None:
    """A column's entry: its table's, else the run manifests' or the shared columns'."""
    for section in (
        known.get(schema, {}).get(table, {}),
        known.get("runs", {}) if table.endswith("_runs") else {},
        known.get("common", {}),
    ):
        if column in section:
            found: Mapping[str, Any] = section[column]
            return found
    return None


def tables(schema: Any) -> dict[str, dict[str, Any]]:
    """The schema's loaded tables (dlt's own `_dlt_*` tables left out) and their columns."""
    return {
        name: dict(table["columns"])
        for name, table in sorted(schema.tables.items())
        if not name.startswith("_dlt") and table.get("columns")
    }


def missing(schemas: Mapping[str, Any], known: Mapping[str, Any]) -> list[str]:
    return [
        f"{name}.{table}.{column}"
        for name, schema in schemas.items()
        for table, columns in tables(schema).items()
        for column in columns
        if entry(known, name, table, column) is None
    ]


def heading(name: str) -> str:
    """What the README calls a dlt schema's dataset."""
    from pipelines.registry import SOURCES

    source = SOURCES.get(name)
    return f"{source.title} (dataset `{source.dataset}`)" if source else name


def live_schemas() -> dict[str, Any]:
    """Every source loaded from its simulator into a temporary DuckDB file: their schemas."""
    import dlt

    from pipelines.entrypoint import run_source
    from pipelines.registry import SOURCES, simulated

    schemas = {}
    with tempfile.TemporaryDirectory() as tmp:
        destination = dlt.destinations.duckdb(str(Path(tmp) / "dictionary.duckdb"))
        folder = str(Path(tmp) / "p")
        for source in SOURCES.values():
            with simulated(source, 300, 5) as settings:
                run_source(source, destination, pipelines_dir=folder, **settings)
            schemas[source.name] = dlt.attach(
                source.pipeline_name, pipelines_dir=folder
            ).default_schema
        return schemas
