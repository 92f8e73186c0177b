"""Rows to push: from a CSV or JSONL file, a DuckDB table or query, and the field mapping from
a row's columns to the target's fields."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson

from sources.core.errors import ConfigurationError, one_line


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


class RowSource:
    """Rows to push, read twice: once surveyed (their columns and keys, checked before any
    request is made), then pushed. ``where`` names them in messages."""

    def __init__(
        self,
        where: str,
        read: Callable[[], Iterator[dict[str, Any]]],
        columns: Sequence[str] | None = None,
        keep: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> None:
        self.where = where
        self._read = read
        self._columns = columns  # None: each row says (JSON Lines)
        self._keep = keep  # None: every row

    def __iter__(self) -> Iterator[dict[str, Any]]:
        keep = self._keep
        return self._read() if keep is None else (row for row in self._read() if keep(row))

    @property
    def columns(self) -> Sequence[str] | None:
        """Every row's columns, where the source says them (a CSV header, a query)."""
        return self._columns

    def only(self, column: str, value: str) -> RowSource:
        """The rows whose ``column`` holds ``value`` (one account's of several); surveyed, their
        columns are still those of every row and their numbers the rows' in the whole source."""
        return RowSource(
            self.where, self._read, self._columns, lambda row: text_of(row.get(column)) == value
        )

    def values(self, column: str) -> Counter[str | None]:
        """How many rows hold each value of ``column``, as text (None: empty)."""
        return Counter(text_of(row.get(column)) for row in self._read())

    def survey(self, key_column: str) -> Survey:
        columns = dict.fromkeys(self._columns or ())
        positions: dict[str, list[int]] = {}
        for number, row in enumerate(self._read(), start=1):
            if self._columns is None:
                columns.update(dict.fromkeys(row))
            if self._keep is not None and not self._keep(row):
                continue
            key = row.get(key_column)
            if key is not None and key != "":
                positions.setdefault(str(key), []).append(number)
        repeated = {key: found for key, found in positions.items() if len(found) > 1}
        return Survey(list(columns), repeated)


@dataclass(frozen=True)
class Survey:
    columns: list[str]
    duplicates: dict[str, list[int]]  # a key held by more than one row -> their numbers (from 1)


def text_of(value: Any) -> str | None:
    """A value as a row's key or account name: text, None for an empty one."""
    return None if value is None or value == "" else str(value)


def check_source(
    survey: Survey,
    where: str,
    key_column: str,
    mapping: Mapping[str, str],
    required: Mapping[str, str],
    account_column: str | None = None,
) -> None:
    """Refuse, in one line, rows that would be rejected one by one: a key, account or mapped
    column they lack (a typo), a field every row needs and no column gives, or a key held by
    two rows (both would be created)."""
    available = ", ".join(survey.columns) or "none"
    for kind, column in (("key", key_column), ("account", account_column)):
        if column is not None and column not in survey.columns:
            raise ConfigurationError(
                f"the {kind} column {column!r} is not in {where}; its columns: {available}"
            )
    for field, column in mapping.items():
        if column not in survey.columns:
            raise ConfigurationError(
                f"the column {column!r} mapped to {field} is not in {where}; its columns: "
                f"{available}"
            )
    given = set(mapping) if mapping else set(survey.columns)
    for field, otherwise in required.items():
        if field not in given:
            raise ConfigurationError(
                f"every row needs {field} and no column of {where} gives it: map one "
                f"(field_map {field}=column){otherwise}; its columns: {available}"
            )
    if survey.duplicates:
        key, numbers = next(iter(survey.duplicates.items()))
        more = len(survey.duplicates) - 1
        raise ConfigurationError(
            f"{key_column} {key!r} is the key of rows {', '.join(map(str, numbers[:10]))} of "
            f"{where}"
            + (f" (and {more} more keys are repeated)" if more else "")
            + ": a key must name one row, or the rows would each be created"
        )


def check_accounts_named(rows: RowSource, column: str, names: Sequence[str], section: str) -> None:
    """Refuse, in one line, rows whose ``column`` names none of the accounts ``names``
    (configured in ``section``): they would be pushed to no account."""
    if rows.columns is not None and column not in rows.columns:
        raise ConfigurationError(
            f"the account column {column!r} is not in {rows.where}; its columns: "
            f"{', '.join(rows.columns) or 'none'}"
        )
    stray = {value: count for value, count in rows.values(column).items() if value not in names}
    if stray:
        value, _ = next(iter(stray.items()))
        example = "an empty value" if value is None else repr(value)
        raise ConfigurationError(
            f"{sum(stray.values())} rows of {rows.where} name no account of [{section}] in "
            f"their column {column!r} (e.g. {example}); the accounts: {', '.join(names)}"
        )


def rows_from_file(path: Path) -> RowSource:
    """A CSV file (a header row; every value text) or JSON Lines (one object per line)."""
    if not path.is_file():
        raise ConfigurationError(f"no file {path.resolve()}")
    where = f"the file {path.resolve()}"
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        return RowSource(where, lambda: _csv_rows(path), header)
    if suffix not in (".jsonl", ".ndjson"):
        raise ConfigurationError(f"{path}: push reads .csv or .jsonl files")
    return RowSource(where, lambda: _json_lines(path))


def _csv_rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def _json_lines(path: Path) -> Iterator[dict[str, Any]]:
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


def rows_from_query(con: duckdb.DuckDBPyConnection, sql: str, where: str) -> RowSource:
    """The rows of a DuckDB query (a table: ``SELECT * FROM schema.table``), in chunks; ``where``
    names the database in messages."""
    cursor = _execute(con, sql, where)
    names = [column[0] for column in cursor.description or []]
    cursor.close()

    def read() -> Iterator[dict[str, Any]]:
        # Its own cursor: the ledger writes on the connection while these rows are read.
        cursor = _execute(con, sql, where)
        while chunk := cursor.fetchmany(1000):
            for values in chunk:
                yield dict(zip(names, values, strict=True))

    return RowSource(f"the query's rows ({where})", read, names)


def _execute(con: duckdb.DuckDBPyConnection, sql: str, where: str) -> duckdb.DuckDBPyConnection:
    try:
        return con.cursor().execute(sql)
    except duckdb.Error as exc:
        raise ConfigurationError(f"the query failed in {where}: {one_line(str(exc))}") from None
