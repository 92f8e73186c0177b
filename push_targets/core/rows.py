"""Rows to push: from a CSV or JSONL file, a DuckDB table or query, and the field mapping from
a row's columns to the target's fields."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import orjson

from sources.core.errors import ConfigurationError


def parse_mapping(text: str | Mapping[str, str] | None, fields: Sequence[str]) -> dict[str, str]:
    """``"contact_name=name,contact_email=email"`` (target field = row column) or a dict, checked
    against the target's ``fields``; empty: a row's columns named like the fields are used."""
    if not text:
        return {}
    if isinstance(text, Mapping):
        pairs = dict(text)
    else:
        pairs = {}
        for part in str(text).split(","):
            field, sep, column = part.partition("=")
            if not sep or not field.strip() or not column.strip():
                raise ConfigurationError(
                    f"field mapping must be target_field=column[,…], got {part.strip()!r}"
                )
            pairs[field.strip()] = column.strip()
    unknown = sorted(set(pairs) - set(fields))
    if unknown:
        raise ConfigurationError(
            f"the target has no field {', '.join(unknown)}; its fields: {', '.join(fields)}"
        )
    return pairs


def mapped(
    row: Mapping[str, Any], mapping: Mapping[str, str], fields: Sequence[str]
) -> dict[str, Any]:
    """The row's values under the target's field names. A column the row has but which is empty
    (NULL, or '' as a CSV holds it) is ``None``: a cleared field. A column it lacks is left out:
    nothing is said about that field."""
    pairs = mapping or {name: name for name in fields}
    return {
        field: None if row[column] == "" else row[column]
        for field, column in pairs.items()
        if column in row
    }


def filled(values: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that hold a value (what a create sends)."""
    return {field: value for field, value in values.items() if value is not None}


def rows_from_file(path: Path) -> Iterator[dict[str, Any]]:
    """A CSV file (a header row; every value text) or JSON Lines (one object per line)."""
    if not path.is_file():
        raise ConfigurationError(f"no file {path}")
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            yield from csv.DictReader(handle)
        return
    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        raise ConfigurationError(f"{path}: push reads .csv or .jsonl files")
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ConfigurationError(f"{path}:{number}: not JSON ({exc})") from None
            if not isinstance(row, dict):
                raise ConfigurationError(f"{path}:{number}: not a JSON object")
            yield row


def rows_from_query(con: duckdb.DuckDBPyConnection, sql: str) -> Iterator[dict[str, Any]]:
    """The rows of a DuckDB query (a table: ``SELECT * FROM schema.table``), in chunks."""
    try:
        # Its own cursor: the ledger writes on the connection while these rows are read.
        cursor = con.cursor().execute(sql)
    except duckdb.Error as exc:
        raise ConfigurationError(f"the query failed: {exc}") from None
    names = [column[0] for column in cursor.description or []]
    while chunk := cursor.fetchmany(1000):
        for values in chunk:
            yield dict(zip(names, values, strict=True))
