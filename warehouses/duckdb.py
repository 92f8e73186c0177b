"""The default warehouse: a DuckDB file. Everything DuckDB-specific lives here: the file's name,
its size, thread and storage settings, the load-file format, and the connection held open for a
run (which also creates the file and says clearly why it cannot be opened)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import dlt
import duckdb
import pyarrow as pa
from dlt.common.destination.configuration import ParquetFormatConfiguration
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from sources.core.columns import DELETED_AT
from sources.core.errors import ConfigurationError, DestinationError, one_line
from warehouses.base import VERSIONS_SCHEMA, SqlWarehouse, sorted_versions, versions_of
from warehouses.duckdb_settings import (
    DUCKDB_CHECKPOINT_THRESHOLD,
    DUCKDB_MEMORY_LIMIT,
    check_file_and_dataset,
    configured_path,
    duckdb_path,
    duckdb_size_setting,
    duckdb_storage_version,
    duckdb_threads_setting,
)

log = logging.getLogger("crm_leads.warehouse")

_LOCK_HOLDER = re.compile(r"\(PID (\d+)\)")
_NOT_WRITABLE = ("Permission denied", "Operation not permitted", "Read-only file system")


def duckdb_destination(dataset_name: str) -> Any:
    """The DuckDB destination, in a file that cannot clash with the dataset name. Every setting
    is checked here; nothing is opened or created (that waits for the run: duckdb_held_open)."""
    path = duckdb_path()
    check_file_and_dataset(path, dataset_name)
    # DuckDB's buffer pool defaults to 80% of RAM; during a merge into a large table it is most
    # of the process's memory. Bounded here (DuckDB spills to disk past it), no slower.
    memory_limit = duckdb_size_setting("memory_limit", DUCKDB_MEMORY_LIMIT)
    # DuckDB runs a statement on every core, but a backfill's loads run beside the fetch process
    # (still paging) and dlt loads the tables' files in parallel jobs, each a statement.
    threads = duckdb_threads_setting()
    # dlt raises DuckDB's checkpoint threshold to 1 GB, so each load's data is checkpointed when
    # its last connection closes, after every job; DuckDB's own 16 MB checkpoints it as the jobs
    # commit, which loads faster. Set by a statement, as dlt applies its global config after ours.
    threshold = duckdb_size_setting("checkpoint_threshold", DUCKDB_CHECKPOINT_THRESHOLD)
    duckdb_storage_version()  # checked now; used when the run creates the file
    credentials = DuckDbCredentials(
        path,
        global_config={"memory_limit": memory_limit, "threads": threads},
        statements=[f"SET GLOBAL checkpoint_threshold = '{threshold}'"],
    )
    # The load files are written and read on this machine: snappy would only cost time.
    # Another `[data_writer] compression` (zstd, gzip …) still applies. Row groups no larger
    # than DuckDB's own: a larger one is split across two of DuckDB's and merged when the load
    # commits (see DuckDbWarehouse.row_group).
    parquet_format = ParquetFormatConfiguration(
        compression="none", row_group_size=DuckDbWarehouse.row_group
    )
    return dlt.destinations.duckdb(credentials, parquet_format=parquet_format)


def _duckdb_reason(exc: BaseException) -> str:
    """DuckDB's own words from the chain dlt wraps them in (its wrapper's text hides them)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    reason = f"{type(exc).__name__}: {exc}"
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (duckdb.Error, OSError)):
            reason = str(current)
        current = current.__cause__ or current.__context__
    # DuckDB appends a paragraph and a docs link to some reasons: the first sentence is the cause.
    return reason.split("\n\n")[0].split(". See also")[0]


def _what_to_do(path: Path, reason: str) -> str:
    other = "set DESTINATION__DUCKDB__CREDENTIALS to another file"
    holder = _LOCK_HOLDER.search(reason)
    if holder or "lock" in reason.lower():
        pid = f" (PID {holder.group(1)})" if holder else ""
        return f"another process has it open{pid}: stop it or wait for it, then run again"
    if not path.parent.is_dir():
        return f"its folder {path.parent} does not exist: create it, or {other}"
    if path.is_dir():
        return "that path is a directory: set DESTINATION__DUCKDB__CREDENTIALS to a file"
    if any(cause in reason for cause in _NOT_WRITABLE):
        return f"make the file and its folder writable (DuckDB writes a .wal beside it), or {other}"
    return other


def cannot_open(path: Path, exc: BaseException) -> DestinationError:
    reason = _duckdb_reason(exc)
    # The fix is read off the whole reason: a long path can push the lock holder's PID past
    # the shortened text.
    fix = _what_to_do(path, reason)
    return DestinationError(
        f"the DuckDB file {path} cannot be opened ({one_line(reason, limit=200)}); {fix}"
    )


def _create_file(path: Path, storage_version: str) -> None:
    """Only a file's creation sets its storage format; DuckDB keeps it when it writes later."""
    if not path.exists():
        duckdb.connect(str(path), config={"storage_compatibility_version": storage_version}).close()


def _check_folder_writable(path: Path) -> None:
    """DuckDB opens a file in a read-only folder, then fails the first commit (its .wal file
    goes beside it): that would be after the API was read. A file created and removed tells."""
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"):
            pass
    except OSError as exc:
        raise DestinationError(
            f"the DuckDB file {path} cannot be written: its folder {path.parent} does not take "
            f"new files ({exc.strerror}) and DuckDB writes a .wal file there; make the folder "
            "writable or set DESTINATION__DUCKDB__CREDENTIALS to a file in another folder"
        ) from None


def _warn_if_unreadable_by_duckdb_1(client: Any, path: Path, storage_version: str) -> None:
    """A file an earlier version made in DuckDB 2's format stays in it: say how to convert it."""
    if not storage_version.startswith(("v0.", "v1.")):
        return  # the user chose a newer format
    try:
        rows = client.execute_sql(
            "SELECT tags['storage_version'] FROM duckdb_databases() "
            "WHERE database_name = current_database()"
        )
    except Exception as exc:  # only a hint: never the reason a run fails
        log.debug("storage version of %s not read: %s", path, exc)
        return
    found = str(rows[0][0]) if rows and rows[0][0] else ""
    if found and not found.startswith(("v0.", "v1.")):
        log.warning(
            "the DuckDB file %s is in DuckDB's %s storage format, which DuckDB 1.x (its CLI, BI "
            "tools) cannot open; convert it once, when no run is going: "
            "python -m warehouses.duckdb convert %s",
            path,
            found,
            path,
        )


def _check_not_left_behind(pipeline: Any, path: Path) -> None:
    """dlt takes a relative path from the folder a pipeline first ran in; ours from the project
    folder. A pipeline whose file is still there would silently start a new, empty one here."""
    configured = configured_path()
    if path.exists() or Path(configured).is_absolute():
        return
    try:
        first_folder = pipeline.get_local_state_val("initial_cwd")
    except KeyError:
        return
    old = Path(first_folder) / configured
    if old.is_file() and old.resolve() != path.resolve():
        raise DestinationError(
            f"the DuckDB file is {path} (DESTINATION__DUCKDB__CREDENTIALS {configured!r}, taken "
            f"from the project folder) but this pipeline's data is in {old}: move that file "
            f"there, or set DESTINATION__DUCKDB__CREDENTIALS={old}"
        )


def duckdb_file(pipeline: Any) -> Path | None:
    """The DuckDB file a pipeline loads into; None for another destination or an in-memory one."""
    if getattr(pipeline.destination, "destination_type", None) != "dlt.destinations.duckdb":
        return None
    database = pipeline.sql_client().credentials.database
    return Path(database) if isinstance(database, str) and not database.startswith(":") else None


@contextmanager
def duckdb_held_open(pipeline: Any) -> Iterator[None]:
    """DuckDB: the database kept open for a whole run. dlt opens the file and closes it again
    around each step (the sync, each load's set-up, its copy jobs, its merge, its completion,
    the manifest: ~8 times in a one-load run, 12-40 ms each, plus a checkpoint at each close);
    while this connection is open, DuckDB hands each of those the instance already open. A file
    that cannot be opened or written (locked, read-only, a directory, no folder) stops the run
    here, before any request, with DestinationError naming the path, DuckDB's reason and the
    way out."""
    if getattr(pipeline.destination, "destination_type", None) != "dlt.destinations.duckdb":
        yield
        return
    # No schema of its own: dlt's ad hoc one when the pipeline has none yet.
    client = pipeline.sql_client()
    database = client.credentials.database
    if not isinstance(database, str) or database.startswith(":"):
        yield  # a connection the caller passed in: theirs to manage
        return
    path = Path(database)
    _check_not_left_behind(pipeline, path)
    if not path.parent.is_dir():  # a setting to fix, like any other: exit 2, nothing ran
        raise ConfigurationError(
            f"the DuckDB file {path} cannot be opened (No such file or directory); "
            f"{_what_to_do(path, '')}"
        )
    storage_version = duckdb_storage_version()
    try:
        _create_file(path, storage_version)
    except Exception as exc:
        raise cannot_open(path, exc) from exc
    _check_folder_writable(path)
    try:
        client.open_connection()
    except Exception as exc:
        error = cannot_open(path, exc)
        if pipeline.has_pending_data:  # what the run after the fix will do first
            error = DestinationError(f"{error}; the data pending from an earlier run loads then")
        raise error from exc
    try:
        _warn_if_unreadable_by_duckdb_1(client, path, storage_version)
        yield
    finally:
        client.close_connection()


class DuckDbWarehouse(SqlWarehouse):
    """A DuckDB file, held open for the run."""

    # DuckDB's row group (rows). Custom-field rows go to dlt in whole multiples of it, the rest
    # carried to the checkpoint's next item: DuckDB then appends each parquet row group as one
    # of its own instead of merging partial ones, which is slower (RESULTS.md).
    row_group: ClassVar[int | None] = 122_880

    @contextmanager
    def held_open(self, pipeline: Any) -> Iterator[None]:
        with duckdb_held_open(pipeline), super().held_open(pipeline):
            yield

    def written_paths(self, pipeline: Any) -> list[Path]:
        path = duckdb_file(pipeline)
        return [path] if path else []

    def compact(self, pipeline: Any) -> None:
        path = duckdb_file(pipeline)
        if path is not None and path.is_file():
            rewrite(path)

    def _native_arrow(
        self, pipeline: Any, table: str, sql_template: str, *args: Any
    ) -> pa.Table | None:
        """A query over ``table`` as arrow typed by DuckDB itself (dlt 1.31's dataset access
        calls `fetch_arrow_table`, which DuckDB 2 no longer has); None when there is no table."""
        if not self.lead_count(pipeline, table):
            return None

        def arrow(client: Any) -> pa.Table:
            query = sql_template.format(table=client.make_qualified_table_name(table))
            return client.native_connection.sql(query, params=list(args)).to_arrow_table()

        return self._query(pipeline, arrow)

    def versions_since(self, pipeline: Any, table: str, since: datetime) -> dict[str, str]:
        query = "SELECT id, updated_at FROM {table} WHERE updated_at >= $1"
        return versions_of(self._native_arrow(pipeline, table, query, since))

    def lead_rows(self, pipeline: Any, table: str, ids: list[str], schema: pa.Schema) -> pa.Table:
        names = ", ".join(schema.names)
        query = f"SELECT {names} FROM {{table}} WHERE id IN (SELECT unnest($1))"
        found = self._native_arrow(pipeline, table, query, ids)
        return schema.empty_table() if found is None else found.cast(schema)

    def live_versions(self, pipeline: Any, table: str, matching: Mapping[str, str]) -> pa.Table:
        where = "".join(f" AND {column} = ${n}" for n, column in enumerate(matching, start=1))
        query = f"SELECT id, created_at, updated_at FROM {{table}} WHERE {DELETED_AT} IS NULL"
        found = self._native_arrow(pipeline, table, query + where, *matching.values())
        return VERSIONS_SCHEMA.empty_table() if found is None else sorted_versions(found)


def convert(path: Path, storage_version: str) -> Path:
    """Rewrite ``path`` in ``storage_version``'s format; the old file is kept as ``<name>.bak``,
    which is returned. Fails (nothing changed) while a run has the file open."""
    if not path.is_file():
        raise OSError(f"{path} is not a DuckDB file")
    new, backup = path.with_name(path.name + ".converting"), path.with_name(path.name + ".bak")
    if backup.exists():
        raise OSError(f"{backup} exists: move it away first (an earlier conversion's original)")
    new.unlink(missing_ok=True)
    # A clean close checkpoints: no .wal is left to be replayed onto the new file.
    duckdb.connect(str(path)).close()
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {_sql_text(path)} AS source (READ_ONLY)")
        con.execute(f"ATTACH {_sql_text(new)} AS target (STORAGE_VERSION '{storage_version}')")
        con.execute("COPY FROM DATABASE source TO target")
    finally:
        con.close()
    os.replace(path, backup)
    os.replace(new, path)
    return backup


def rewrite(path: Path) -> None:
    """``path`` copied into a new file that replaces it, in the same storage format: DuckDB
    keeps the blocks of dropped tables (their bytes readable) until it reuses them."""
    new = path.with_name(path.name + ".rewriting")
    new.unlink(missing_ok=True)
    duckdb.connect(str(path)).close()  # checkpointed: no .wal left to replay
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {_sql_text(path)} AS source (READ_ONLY)")
        found = con.execute(
            "SELECT tags['storage_version'] FROM duckdb_databases() WHERE database_name = 'source'"
        ).fetchone()
        # DuckDB tags a range ("v1.4.0+"): its lower end is the version to keep.
        tag = str(found[0]).rstrip("+") if found and found[0] else ""
        version = f" (STORAGE_VERSION '{tag}')" if tag else ""
        con.execute(f"ATTACH {_sql_text(new)} AS target{version}")
        con.execute("COPY FROM DATABASE source TO target")
    finally:
        con.close()
    os.replace(new, path)


def _sql_text(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def main(argv: list[str] | None = None) -> int:
    """``python -m warehouses.duckdb convert FILE``: a DuckDB 2 file made readable by
    DuckDB 1.x (the CLI, BI tools), in the format of ``storage_version``."""
    from sources.core.dlt_config import configure_dlt

    parser = argparse.ArgumentParser(prog="python -m warehouses.duckdb")
    parser.add_argument("command", choices=["convert"])
    parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    configure_dlt()
    try:
        version = duckdb_storage_version()
        backup = convert(args.file.resolve(), version)
    except (ConfigurationError, duckdb.Error, OSError) as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    print(f"{args.file}: converted to storage version {version}; the old file is {backup}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
