"""Is a warehouse an exact copy of a simulator's leads? Derived from what a source declares:
its columns in ``docs/columns.toml`` (each one's API field), and its simulator's leads and
child rows (``simulators.core.source.SourceServer``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from simulators.core.source import SourceServer
from tests.helpers import ts

# Columns the connector or dlt fills: not fields of the API.
NOT_API = ("connector", "dlt")
Query = Callable[[str], list[tuple[Any, ...]]]


def api_fields(columns: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each column's API field as a path into a lead: ``owner.name`` -> ["owner", "name"]
    (a note in parentheses, e.g. "(detail)", left out)."""
    return {
        column: entry["source"].split(" (")[0].split(".")
        for column, entry in columns.items()
        if entry.get("source") not in NOT_API
    }


def field(lead: Mapping[str, Any], path: list[str]) -> Any:
    value: Any = lead
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def as_loaded(expected: Any, loaded: Any) -> Any:
    """The API's instant text as the warehouse's timestamp, when the column is one."""
    return ts(expected) if isinstance(loaded, datetime) and isinstance(expected, str) else expected


def assert_exact(
    query: Query, dataset: str, table: str, columns: Mapping[str, Any], sim: SourceServer
) -> None:
    """Every lead of ``sim`` is one live row of ``table``, every column as its API field
    says, and nothing else is there; each child table holds exactly the simulator's rows."""
    fields = api_fields(columns)
    present = table_columns(query, dataset, table)
    loaded_columns = [column for column in fields if column in present]
    leads = {lead["id"]: lead for lead in sim.leads()}
    for column in fields.keys() - present:  # dlt makes no column of nulls only
        assert all(field(lead, fields[column]) is None for lead in leads.values()), column
    # A source that never marks a lead deleted has no such column: its rows are all live.
    deleted = "_deleted_at" if "_deleted_at" in present else "NULL"
    select = ", ".join(["id", deleted, *loaded_columns])
    rows = query(f"SELECT {select} FROM {dataset}.{table}") if present else []
    assert sorted(row[0] for row in rows) == sorted(leads)  # each lead once, no other row
    for lead_id, deleted_at, *values in rows:
        assert deleted_at is None, lead_id
        lead = leads[lead_id]
        expected = [
            as_loaded(field(lead, fields[column]), value)
            for column, value in zip(loaded_columns, values, strict=True)
        ]
        assert dict(zip(loaded_columns, values, strict=True)) == dict(
            zip(loaded_columns, expected, strict=True)
        ), lead_id
    for child, expected_rows in sim.child_rows().items():
        assert_rows(query, dataset, child, expected_rows)


def table_columns(query: Query, dataset: str, table: str) -> set[str]:
    """The columns of ``dataset.table``; none: no such table."""
    rows = query(
        "SELECT column_name FROM information_schema.columns "
        f"WHERE table_schema = '{dataset}' AND table_name = '{table}'"
    )
    return {row[0] for row in rows}


def assert_rows(query: Query, dataset: str, table: str, expected: list[dict[str, Any]]) -> None:
    """``table`` holds exactly ``expected`` (each as often), compared on their columns."""
    if not expected:
        present = table_columns(query, dataset, table)
        assert not present or query(f"SELECT * FROM {dataset}.{table}") == [], table
        return
    names = sorted(expected[0])
    loaded = query(f"SELECT {', '.join(names)} FROM {dataset}.{table}")
    assert Counter(loaded) == Counter(tuple(row[name] for name in names) for row in expected)
