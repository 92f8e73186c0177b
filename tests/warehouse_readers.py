"""Read the connector's tables back with each destination's own driver.

One reader per kind of destination: DuckDB (duckdb), PostgreSQL (psycopg2), sqlalchemy on SQLite
(sqlite3) and on MySQL/MariaDB (pymysql), and the filesystem destination (delta tables with
deltalake, iceberg tables with pyiceberg's SQL catalog registered from the newest metadata file, as
dlt does; plain parquet/jsonl folders with pyarrow). Rows come back as Python values with their
types, as a user of that driver gets them: timestamps as datetimes with a time zone, ``''``
distinct from ``None``, integers, floats and booleans as such. Nothing is normalised on the way,
except what the store itself cannot type: SQLite keeps every value as text or a number, so its
values are converted by the column's declared type, the way SQLAlchemy reads them (a naive
``DATETIME`` is UTC, which is how dlt writes it). MySQL has the same two gaps: its ``DATETIME``
holds no time zone (dlt writes UTC there too) and its ``BOOLEAN`` is ``TINYINT(1)``, which the
driver returns as an integer; both are converted by the column's type, as SQLAlchemy does.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

DATASET = "mega"  # the MEGA source's; each reader takes its dataset
Row = dict[str, Any]


class WarehouseReader(Protocol):
    """What the tests need of a destination: its tables, their columns and their rows."""

    def tables(self) -> set[str]: ...

    def columns(self, table: str) -> list[str]: ...

    def rows(self, table: str) -> list[Row]: ...


class InformationSchemaReader:
    """A SQL warehouse read through its ``information_schema``; subclasses run the queries with
    their own driver (``mark``: its parameter placeholder)."""

    mark = "%s"
    dataset = DATASET

    def _query(self, sql: str, *params: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
        raise NotImplementedError

    def tables(self) -> set[str]:
        _, rows = self._query(
            f"SELECT table_name FROM information_schema.tables WHERE table_schema = {self.mark}",
            self.dataset,
        )
        return {row[0] for row in rows}

    def _declared(self, table: str) -> dict[str, str]:
        """Column name → declared type, in table order."""
        _, rows = self._query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = "
            f"{self.mark} AND table_name = {self.mark} ORDER BY ordinal_position",
            self.dataset,
            table,
        )
        return {row[0]: row[1] for row in rows}

    def columns(self, table: str) -> list[str]:
        return list(self._declared(table))

    def rows(self, table: str) -> list[Row]:
        if table not in self.tables():
            return []
        names, rows = self._query(f'SELECT * FROM {self.dataset}."{table}"')
        return [dict(zip(names, row, strict=True)) for row in rows]


class DuckDBReader(InformationSchemaReader):
    mark = "?"

    def __init__(self, path: Path, dataset: str = DATASET) -> None:
        self.path = path
        self.dataset = dataset

    def _query(self, sql: str, *params: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
        import duckdb

        if not self.path.exists():
            return [], []
        with duckdb.connect(str(self.path), read_only=True) as con:
            relation = con.execute(sql, list(params))
            names = [column[0] for column in relation.description or []]
            return names, relation.fetchall()


class PostgresReader(InformationSchemaReader):
    def __init__(self, url: str, dataset: str = DATASET) -> None:
        self.url = url
        self.dataset = dataset

    def _query(self, sql: str, *params: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
        import psycopg2

        connection = psycopg2.connect(self.url)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                names = [column.name for column in cursor.description or []]
                return names, list(cursor.fetchall())
        finally:
            connection.close()


def sqlite_dataset_file(database: Path, dataset: str = DATASET) -> Path:
    """dlt's sqlalchemy destination keeps a SQLite dataset in its own attached file beside the
    database: ``<db>__<dataset>.db``."""
    return database.with_name(f"{database.stem}__{dataset}{database.suffix}")


def _sqlite_value(declared: str, value: Any) -> Any:
    if value is None:
        return None
    kind = declared.upper()
    if kind in ("DATETIME", "TIMESTAMP") and isinstance(value, str):
        stamp = datetime.fromisoformat(value)
        return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=timezone.utc)
    if kind == "BOOLEAN" and isinstance(value, int):
        return bool(value)
    if kind in ("DOUBLE", "FLOAT", "REAL") and isinstance(value, int):
        return float(value)
    return value


class SQLiteReader:
    def __init__(self, database: Path, dataset: str = DATASET) -> None:
        self.path = sqlite_dataset_file(database, dataset)

    def _query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        if not self.path.exists():
            return [], []
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            cursor = connection.execute(sql)
            names = [column[0] for column in cursor.description or []]
            return names, cursor.fetchall()
        finally:
            connection.close()

    def tables(self) -> set[str]:
        _, rows = self._query("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in rows}

    def _declared(self, table: str) -> dict[str, str]:
        _, rows = self._query(f'PRAGMA table_info("{table}")')
        return {row[1]: row[2] for row in rows}

    def columns(self, table: str) -> list[str]:
        return list(self._declared(table))

    def rows(self, table: str) -> list[Row]:
        if table not in self.tables():
            return []
        declared = self._declared(table)
        names, rows = self._query(f'SELECT * FROM "{table}"')
        typed_rows = []
        for row in rows:
            pairs = zip(names, row, strict=True)
            typed_rows.append({name: _sqlite_value(declared[name], value) for name, value in pairs})
        return typed_rows


def _mysql_value(column_type: str, value: Any) -> Any:
    if value is None:
        return None
    kind = column_type.lower()
    if (kind.startswith("datetime") or kind.startswith("timestamp")) and isinstance(
        value, datetime
    ):
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    if kind == "tinyint(1)" and isinstance(value, int):
        return bool(value)
    return value


class MySQLReader(InformationSchemaReader):
    """dlt's sqlalchemy destination on MySQL/MariaDB: the dataset is a database of the server
    (e.g. ``mega``), whatever database the credentials URL names."""

    def __init__(self, url: str, dataset: str = DATASET) -> None:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        self.connect_args: dict[str, Any] = {
            "host": parsed.host or "127.0.0.1",
            "port": parsed.port or 3306,
            "user": parsed.username,
            "password": parsed.password or "",
            "charset": "utf8mb4",
        }
        self.dataset = dataset

    def _query(self, sql: str, *params: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
        import pymysql

        connection = pymysql.connect(**self.connect_args)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params or None)
                names = [column[0] for column in cursor.description or []]
                return names, list(cursor.fetchall())
        finally:
            connection.close()

    def _declared(self, table: str) -> dict[str, str]:
        _, rows = self._query(
            "SELECT column_name, column_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            self.dataset,
            table,
        )
        return {row[0]: row[1] for row in rows}

    def rows(self, table: str) -> list[Row]:
        if table not in self.tables():
            return []
        declared = self._declared(table)
        names, rows = self._query(f"SELECT * FROM `{self.dataset}`.`{table}`")
        return [
            {
                name: _mysql_value(declared[name], value)
                for name, value in zip(names, row, strict=True)
            }
            for row in rows
        ]


class FilesystemReader:
    """A dataset folder of dlt's filesystem destination: one folder per table, each a delta
    table, an iceberg table, or plain parquet / jsonl files (whatever the run wrote)."""

    def __init__(self, bucket: Path, dataset: str = DATASET) -> None:
        self.dataset = dataset
        self.root = bucket / dataset

    def _folder(self, table: str) -> Path:
        return self.root / table

    def tables(self) -> set[str]:
        if not self.root.is_dir():
            return set()
        return {
            folder.name
            for folder in self.root.iterdir()
            if folder.is_dir() and any(path.is_file() for path in folder.rglob("*"))
        }

    def kind(self, table: str) -> str:
        folder = self._folder(table)
        if (folder / "_delta_log").is_dir():
            return "delta"
        if list((folder / "metadata").glob("*.metadata.json")):
            return "iceberg"
        return "files"

    def _arrow(self, table: str) -> Any:
        import pyarrow as pa

        folder = self._folder(table)
        kind = self.kind(table)
        if kind == "delta":
            from deltalake import DeltaTable

            return DeltaTable(str(folder)).to_pyarrow_table()
        if kind == "iceberg":
            return _iceberg_table(self.dataset, table, folder).scan().to_arrow()
        parts = [_read_file(path) for path in sorted(folder.rglob("*")) if path.is_file()]
        parts = [part for part in parts if part is not None]
        if not parts:
            return pa.table({})
        return pa.concat_tables(parts, promote_options="permissive")

    def columns(self, table: str) -> list[str]:
        if table not in self.tables():
            return []
        return list(self._arrow(table).schema.names)

    def rows(self, table: str) -> list[Row]:
        if table not in self.tables():
            return []
        rows: list[Row] = self._arrow(table).to_pylist()
        return rows


def _iceberg_table(dataset: str, table: str, folder: Path) -> Any:
    """As dlt opens it: an in-memory SQL catalog with the table registered from its newest
    metadata file (``dlt.common.libs.pyiceberg.get_last_metadata_file``)."""
    from pyiceberg.catalog.sql import SqlCatalog

    newest = sorted(str(path) for path in (folder / "metadata").glob("*.json"))[-1]
    catalog = SqlCatalog("default", uri="sqlite:///:memory:")
    catalog.create_namespace(dataset)
    return catalog.register_table((dataset, table), f"file://{newest}")


def _read_file(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = path.name
    if name.endswith(".parquet"):
        return pq.read_table(path)
    if ".jsonl" in name:
        opener = gzip.open if _is_gzip(path) else open
        with opener(path, "rt") as handle:
            records = [json.loads(line) for line in handle if line.strip()]
        return pa.Table.from_pylist(records) if records else None
    return None


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def make_reader(kind: str, location: str | Path, dataset: str = DATASET) -> WarehouseReader:
    """``kind``: duckdb (the file), postgres and mariadb (a credentials URL), sqlite (the
    database file given to dlt), delta / iceberg (the bucket folder); ``dataset``: the dlt
    dataset whose tables are read (``mega``, ``leads_v1``)."""
    if kind == "duckdb":
        return DuckDBReader(Path(location), dataset)
    if kind == "postgres":
        return PostgresReader(str(location), dataset)
    if kind == "sqlite":
        return SQLiteReader(Path(location), dataset)
    if kind == "mariadb":
        return MySQLReader(str(location), dataset)
    if kind in ("delta", "iceberg"):
        return FilesystemReader(Path(location), dataset)
    raise ValueError(f"no reader for {kind!r}")
