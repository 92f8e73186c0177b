"""What a run needs of its warehouse, whatever the destination: how to load into it, and typed
reads of what is loaded (lead ids for reconcile, versions for lookback, counts, the manifest).

`Warehouse` is the seam: one subclass per kind of destination, chosen once in `__init__.py`.
`SqlWarehouse` reads any destination with SQL through dlt's own clients: counts and ids through
its `sql_client`, typed rows through its dataset access (never arrow built from driver tuples:
SQLite, say, hands timestamps back as text).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pyarrow as pa
from dlt.common.schema.typing import LOADS_TABLE_NAME, PIPELINE_STATE_TABLE_NAME, TFileFormat
from dlt.common.utils import uniq_id
from dlt.destinations.exceptions import DatabaseTransientException, DatabaseUndefinedRelation

from sources.core.columns import DELETED_AT, TIMESTAMP, ChildTable, LeadTables, format_timestamp

_IDS_PER_QUERY = 500
EVERY_ROW: Mapping[str, str] = {}  # no `matching`: every row
# A lock per dataset for loads that may create its tables (``Warehouse.shared_load``).
_TABLE_LOCKS: dict[str, threading.Lock] = {}
_TABLE_LOCKS_GUARD = threading.Lock()
# What `live_versions` returns: enough to tell new, changed and vanished leads apart.
VERSIONS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), False),
        pa.field("created_at", TIMESTAMP),
        pa.field("updated_at", TIMESTAMP),
    ]
)

log = logging.getLogger("crm_leads.warehouse")
T = TypeVar("T")


class Warehouse:
    """One kind of destination. Reads name the table they read (the source's: `LeadTables`) and
    treat a table that does not exist as empty: whether the lead tables hold rows is asked of
    the tables, not of dlt's schema (which a discarded package or a new machine can leave out
    of step with them)."""

    # Passed to every `pipeline.run` of the run (None: dlt's choice for the destination).
    loader_file_format: ClassVar[str | None] = None
    # dlt's table format for every table (lakehouse tables); None: the destination's own.
    table_format: ClassVar[str | None] = None
    # The zero-row `_mega_runs` stub rides along with the run's first load (see runner.py), in
    # this file format where the run's own cannot load zero rows (None: the run's own).
    manifest_stub_format: ClassVar[TFileFormat | None] = None
    # Child rows merged by (parent key, key) upsert, removed keys tombstoned, where the
    # destination has no delete-insert by `merge_key` (lakehouse tables).
    custom_fields_upsert: ClassVar[bool] = False
    # The connector deletes by lead itself before each merged batch is loaded (Iceberg, where
    # dlt's merge cannot delete rows).
    deletes_by_lead: ClassVar[bool] = False
    # Rows per row group of the load files, where the destination appends whole ones fastest
    # (DuckDB); None: dlt's default.
    row_group: ClassVar[int | None] = None

    def __init__(self, destination: Any) -> None:
        self.destination = destination

    def run_options(self) -> dict[str, Any]:
        """Keyword arguments of `pipeline.run` this warehouse needs."""
        options = {"loader_file_format": self.loader_file_format, "table_format": self.table_format}
        return {key: value for key, value in options.items() if value is not None}

    def before_load(
        self, pipeline: Any, tables: LeadTables, leads: pa.Table, children: pa.Table | None
    ) -> tuple[pa.Table, pa.Table | None]:
        """A merged batch, just before dlt sees it (only where `deletes_by_lead`)."""
        return leads, children

    def held_open(self, pipeline: Any) -> AbstractContextManager[None]:
        """Whatever the warehouse keeps open for a whole run; by default nothing."""
        return nullcontext()

    def foreign_ids(
        self, pipeline: Any, table: str, ids: list[str], column: str, mine: str
    ) -> list[tuple[str, str]]:
        """(id, ``column``) of rows among ``ids`` whose ``column`` is not ``mine`` (any case):
        another account's rows, where several share a dataset."""
        schema = pa.schema([("id", pa.string()), (column, pa.string())])
        held = self.lead_rows(pipeline, table, ids, schema).to_pylist()
        return [(r["id"], r[column]) for r in held if str(r[column]).lower() != mine.lower()]

    def shared_load(
        self, pipeline: Any, table: str, stop: threading.Event
    ) -> AbstractContextManager[Any]:
        """Around a load of one of several pipelines loading a dataset at once (accounts):
        while ``table`` holds no rows the load may create the dataset's tables, which two at
        once would both try (DuckDB: 'Schema "mega" already exists'), so such loads of this
        process go one at a time. Another process cannot share a DuckDB file; PostgreSQL
        adds a lock across processes, lakehouse tables one around every load. ``stop``: a
        Ctrl-C or SIGTERM ends a wait for the lock."""
        if self.lead_count(pipeline, table):
            return nullcontext()
        key = f"{type(self).__name__}:{pipeline.dataset_name}"
        with _TABLE_LOCKS_GUARD:
            lock = _TABLE_LOCKS.setdefault(key, threading.Lock())
        return lock

    def compact(self, pipeline: Any) -> None:
        """After a full refresh, leave no bytes of the dropped rows in storage the warehouse
        keeps locally (a file database keeps freed blocks); by default nothing to do."""

    def written_paths(self, pipeline: Any) -> list[Path]:
        """Local places this warehouse writes, to name the one that filled a disk."""
        return []

    def lead_count(self, pipeline: Any, table: str) -> int:
        """Every row of the lead table, soft-deleted ones too (0 when it does not exist)."""
        raise NotImplementedError

    def live_count(self, pipeline: Any, table: str, matching: Mapping[str, str] = EVERY_ROW) -> int:
        """Rows not soft-deleted; ``matching``: only those whose columns hold these values
        (one account's rows, where several share a dataset)."""
        raise NotImplementedError

    def live_and_deleted_ids(
        self, pipeline: Any, table: str, matching: Mapping[str, str] = EVERY_ROW
    ) -> tuple[set[str], set[str]]:
        raise NotImplementedError

    def versions_since(self, pipeline: Any, table: str, since: datetime) -> dict[str, str]:
        """id → updated_at (API format) of loaded leads updated at/after ``since``."""
        raise NotImplementedError

    def lead_rows(self, pipeline: Any, table: str, ids: list[str], schema: pa.Schema) -> pa.Table:
        """The loaded rows of ``ids``, shaped like the source's lead table (``schema``)."""
        raise NotImplementedError

    def live_versions(self, pipeline: Any, table: str, matching: Mapping[str, str]) -> pa.Table:
        """`id`, `created_at`, `updated_at` of the live (not soft-deleted) leads whose columns
        equal ``matching`` (a filter set's), sorted by (`created_at`, `id`)."""
        raise NotImplementedError

    def child_keys(
        self, pipeline: Any, child: ChildTable, lead_ids: list[str]
    ) -> dict[str, set[str]]:
        """lead id → the child keys stored for it (only where `custom_fields_upsert`)."""
        raise NotImplementedError

    def prune_state_history(self, pipeline: Any) -> None:
        """Drop the pipeline's superseded state rows, where the destination keeps them."""

    def insert_row(self, pipeline: Any, table: str, row: dict[str, Any], load_id: str) -> bool:
        """One row into a table dlt made; False (nothing written) sends it through dlt."""
        return False


class SqlWarehouse(Warehouse):
    """A destination with SQL (DuckDB, Postgres, SQLAlchemy's databases, Snowflake …).

    A run's own queries (counts, ids, the manifest row) share one connection, opened at the
    first and closed with the run (`held_open`): dlt's `sql_client` resolves the destination's
    settings and connects anew each time it is entered (20-60 ms on Postgres)."""

    def __init__(self, destination: Any) -> None:
        super().__init__(destination)
        self._in_run = False
        self._run_client: Any | None = None  # the run's, once its first query opened it

    def held_open(self, pipeline: Any) -> AbstractContextManager[None]:
        return self._one_connection()

    @contextmanager
    def _one_connection(self) -> Iterator[None]:
        self._in_run = True
        try:
            yield
        finally:
            self._in_run = False
            self._close_run_client()

    def _close_run_client(self) -> None:
        client, self._run_client = self._run_client, None
        if client is not None:
            client.close_connection()

    def _query(self, pipeline: Any, query: Callable[[Any], T]) -> T:
        """``query`` on the run's client; outside a run, on a client of its own. A connection
        dropped while it idled (through a long backfill) is replaced, once."""
        if not self._in_run:
            with dataset_sql_client(pipeline) as client:
                return query(client)
        fresh = self._run_client is None
        if fresh:
            self._run_client = dataset_sql_client(pipeline)
            self._run_client.open_connection()
        try:
            return query(self._run_client)
        except DatabaseUndefinedRelation:
            # Not kept: a connection opened before a run's first load made the dataset may not
            # see it (SQLite attaches a dataset's file only if it exists when it connects).
            self._close_run_client()
            raise
        except DatabaseTransientException:
            if fresh:
                raise
            self._close_run_client()
            return self._query(pipeline, query)

    def _rows(
        self, pipeline: Any, table: str, sql_template: str, *args: Any
    ) -> list[tuple[Any, ...]]:
        """Rows of a query over ``table`` (``{table}``); none when the table does not exist."""

        def rows(client: Any) -> list[tuple[Any, ...]]:
            qualified = client.make_qualified_table_name(table)
            with client.execute_query(sql_template.format(table=qualified), *args) as cursor:
                return list(cursor.fetchall())

        try:
            return self._query(pipeline, rows)
        except DatabaseUndefinedRelation:
            return []

    def _count(self, pipeline: Any, table: str, where: str = "", *args: Any) -> int:
        rows = self._rows(pipeline, table, f"SELECT COUNT(*) FROM {{table}} {where}", *args)
        return int(rows[0][0]) if rows else 0

    def lead_count(self, pipeline: Any, table: str) -> int:
        return self._count(pipeline, table)

    def prune_state_history(self, pipeline: Any) -> None:
        """dlt appends the whole state at every load and restores only the newest row of a
        completed load: the older rows go, as dlt's filesystem destination drops its state files
        past ``max_state_files``. A reconcile's ids seen make each row megabytes (~96 MB of rows
        for 1M leads), more than DuckDB's memory limit let the next run's restore sort."""

        def prune(client: Any) -> None:
            state = client.make_qualified_table_name(PIPELINE_STATE_TABLE_NAME)
            loads = client.make_qualified_table_name(LOADS_TABLE_NAME)
            client.execute_sql(
                f"DELETE FROM {state} WHERE pipeline_name = %s AND _dlt_load_id < ("
                f"SELECT MAX(s._dlt_load_id) FROM {state} AS s JOIN {loads} AS l"
                " ON l.load_id = s._dlt_load_id WHERE s.pipeline_name = %s AND l.status = 0)",
                pipeline.pipeline_name,
                pipeline.pipeline_name,
            )

        with contextlib.suppress(DatabaseUndefinedRelation):
            self._query(pipeline, prune)

    def live_count(self, pipeline: Any, table: str, matching: Mapping[str, str] = EVERY_ROW) -> int:
        where = f"WHERE {DELETED_AT} IS NULL" + "".join(f" AND {c} = %s" for c in matching)
        return self._count(pipeline, table, where, *matching.values())

    def foreign_ids(
        self, pipeline: Any, table: str, ids: list[str], column: str, mine: str
    ) -> list[tuple[str, str]]:
        # SQL on the table itself: dlt's typed access needs the table in this pipeline's schema,
        # which another account's pipeline may have just made.
        found: list[tuple[str, str]] = []
        for start in range(0, len(ids), _IDS_PER_QUERY):
            chunk = ids[start : start + _IDS_PER_QUERY]
            marks = ", ".join(["%s"] * len(chunk))
            query = (
                f"SELECT id, {column} FROM {{table}} WHERE id IN ({marks}) "
                f"AND LOWER({column}) <> %s"
            )
            found += [
                (str(i), str(c))
                for i, c in self._rows(pipeline, table, query, *chunk, mine.lower())
            ]
        return found

    def live_and_deleted_ids(
        self, pipeline: Any, table: str, matching: Mapping[str, str] = EVERY_ROW
    ) -> tuple[set[str], set[str]]:
        where = " AND ".join(f"{column} = %s" for column in matching)
        rows = self._rows(
            pipeline,
            table,
            f"SELECT id, CASE WHEN {DELETED_AT} IS NULL THEN 0 ELSE 1 END FROM {{table}}"
            + (f" WHERE {where}" if where else ""),
            *matching.values(),
        )
        live = {str(row[0]) for row in rows if not row[1]}
        return live, {str(row[0]) for row in rows if row[1]}

    def _arrow(self, relation: Any) -> pa.Table:
        """A relation's rows as arrow typed by dlt's schema. Drivers that return text for
        timestamps (SQLite) make dlt log a warning per column as it converts them: not news."""
        dlt_log = logging.getLogger("dlt")
        level = dlt_log.level
        dlt_log.setLevel(logging.ERROR)
        try:
            return relation.arrow()
        finally:
            dlt_log.setLevel(level)

    def _leads_relation(self, pipeline: Any, table: str) -> Any | None:
        """``table`` through dlt's dataset access (typed by the schema), or None if not made."""
        if not self.lead_count(pipeline, table):
            return None
        return pipeline.dataset(schema=schema_of(pipeline)).table(table)

    def versions_since(self, pipeline: Any, table: str, since: datetime) -> dict[str, str]:
        relation = self._leads_relation(pipeline, table)
        if relation is None:
            return {}
        since_then = relation.where("updated_at", "gte", since)
        return versions_of(self._arrow(since_then.select("id", "updated_at")))

    def lead_rows(self, pipeline: Any, table: str, ids: list[str], schema: pa.Schema) -> pa.Table:
        relation = self._leads_relation(pipeline, table) if ids else None
        if relation is None:
            return schema.empty_table()
        chunks = (
            ids[start : start + _IDS_PER_QUERY] for start in range(0, len(ids), _IDS_PER_QUERY)
        )
        parts = [
            self._arrow(relation.where("id", "in", chunk).select(*schema.names)) for chunk in chunks
        ]
        return pa.concat_tables(parts).select(schema.names).cast(schema)

    def live_versions(self, pipeline: Any, table: str, matching: Mapping[str, str]) -> pa.Table:
        relation = self._leads_relation(pipeline, table)
        if relation is None:
            return VERSIONS_SCHEMA.empty_table()
        for column, value in matching.items():
            relation = relation.where(column, "eq", value)
        found = self._arrow(relation.select(*VERSIONS_SCHEMA.names, DELETED_AT))
        return sorted_versions(found.filter(found[DELETED_AT].is_null()))

    def insert_row(self, pipeline: Any, table: str, row: dict[str, Any], load_id: str) -> bool:
        """By SQL into a table that dlt made with (at least) these columns; a whole dlt run for
        one row costs ~0.3 s (benchmarks/RESULTS.md)."""
        name = schema_of(pipeline)
        columns = pipeline.schemas[name].tables.get(table, {}).get("columns", {}) if name else {}
        values = {**row, "_dlt_load_id": load_id, "_dlt_id": uniq_id()}
        if not columns or not set(values) <= set(columns):
            return False

        def insert(client: Any) -> None:
            names = ", ".join(client.escape_column_name(name) for name in values)
            marks = ", ".join(["%s"] * len(values))
            client.execute_sql(
                f"INSERT INTO {client.make_qualified_table_name(table)} ({names}) VALUES ({marks})",
                *values.values(),
            )

        try:
            self._query(pipeline, insert)
        except Exception as exc:  # e.g. the table was dropped there: dlt makes it again
            log.debug("row for %s not inserted by SQL (%s); loading it with dlt", table, exc)
            return False
        return True


def dataset_sql_client(pipeline: Any) -> Any:
    """The dataset's SQL client; before the first load made the schema, dlt's ad hoc one (the
    same dataset and naming: the run's client opened before its first load serves after it)."""
    return pipeline.sql_client(schema_name=schema_of(pipeline))


def schema_of(pipeline: Any) -> str | None:
    """The source's schema (`mega`, `leads_v1`); None before a first load made one, when dlt's
    clients make an ad hoc one (the dataset is the pipeline's either way)."""
    return pipeline.default_schema_name if pipeline.schemas else None


def sorted_versions(found: pa.Table) -> pa.Table:
    """``found``'s `id`, `created_at`, `updated_at` in the list order (`created_at`, `id`)."""
    versions = found.select(VERSIONS_SCHEMA.names).cast(VERSIONS_SCHEMA)
    return versions.sort_by([("created_at", "ascending"), ("id", "ascending")])


def versions_of(found: pa.Table | None) -> dict[str, str]:
    """id → updated_at in the API's format, from typed `id`, `updated_at` columns."""
    if found is None:
        return {}
    ids, stamps = found["id"].to_pylist(), found["updated_at"].to_pylist()
    return {
        lead_id: format_timestamp(updated)
        for lead_id, updated in zip(ids, stamps, strict=True)
        if updated is not None
    }
