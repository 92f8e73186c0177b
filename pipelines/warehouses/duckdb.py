"""The default warehouse: a DuckDB file. Everything DuckDB-specific lives here: the file's name,
its size and thread settings, the load-file format, and the connection held open for a run."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dlt
from dlt.common.destination.configuration import ParquetFormatConfiguration
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from sources.mega import settings
from sources.mega.errors import ConfigurationError

log = logging.getLogger("mega")

DUCKDB_MEMORY_LIMIT = "128MB"
DUCKDB_CHECKPOINT_THRESHOLD = "16MB"  # DuckDB's own default
_DUCKDB_SIZE = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


def default_duckdb_threads() -> int:
    """Half the cores, at least one: the other half fetches and shapes while DuckDB loads."""
    return max(1, (os.cpu_count() or 2) // 2)


def duckdb_size_setting(setting: str, default: str) -> str:
    """A size setting of ``[destination.duckdb]``, checked before DuckDB would refuse it with an
    error dlt reports as a failed connection."""
    value = (dlt.config.get(f"destination.duckdb.{setting}", str) or default).strip()
    if not _DUCKDB_SIZE.match(value):
        raise ConfigurationError(
            f"{setting} must be a size such as '16MB' or '1GB', got {value!r} "
            f"(setting DESTINATION__DUCKDB__{setting.upper()})"
        )
    return value


def duckdb_destination(dataset_name: str) -> Any:
    """The DuckDB destination, in a file that cannot clash with the dataset name."""
    configured = dlt.config.get("destination.duckdb.credentials", str)
    path = configured or settings.DEFAULT_DUCKDB_FILE
    stem = path.rsplit("/", 1)[-1].removesuffix(".duckdb")
    if stem == dataset_name:
        raise ConfigurationError(
            f"the DuckDB file {path!r} is named like the dataset {dataset_name!r}; DuckDB then "
            "cannot tell its catalog from the schema and the load fails. Pick another file name "
            "(DESTINATION__DUCKDB__CREDENTIALS) or dataset (--dataset)"
        )
    # DuckDB's buffer pool defaults to 80% of RAM; during a merge into a large table it is most
    # of the process's memory. Bounded here (DuckDB spills to disk past it). 128 MB against
    # 256 MB: peak RSS 345 → 320 MB (100k leads), 421 → 383 MB (1M), no slower (RESULTS.md).
    memory_limit = duckdb_size_setting("memory_limit", DUCKDB_MEMORY_LIMIT)
    # DuckDB runs a statement on every core, but a backfill's loads run beside the fetch process
    # (still paging) and dlt loads the tables' files in parallel jobs, each a statement. 2 cores,
    # 1M leads, paired runs: 1 thread 24.2-30.2 s against 2 threads 25.7-33.1 s (RESULTS.md).
    threads = dlt.config.get("destination.duckdb.threads", int) or default_duckdb_threads()
    # dlt raises DuckDB's checkpoint threshold to 1 GB, so each load's data is checkpointed when
    # its last connection closes, after every job. DuckDB's own 16 MB checkpoints it as the jobs
    # commit: the load of a 100k-lead backfill 0.57 → 0.48 s (medians of 15 paired runs), of
    # a 1M one 5.7-6.9 → 4.5-6.8 s (4 pairs), for +15 MB peak RSS at 1M (RESULTS.md). Set by a
    # statement, as dlt applies its own global config after ours.
    threshold = duckdb_size_setting("checkpoint_threshold", DUCKDB_CHECKPOINT_THRESHOLD)
    credentials = DuckDbCredentials(
        path,
        global_config={"memory_limit": memory_limit, "threads": threads},
        statements=[f"SET GLOBAL checkpoint_threshold = '{threshold}'"],
    )
    # The load files are written and read on this machine: snappy would only cost time (100k
    # leads, medians: 3.80 → 3.60 s; files 14 → 18 MB). Another `[data_writer] compression`
    # (zstd, gzip …) still applies. Row groups no larger than DuckDB's own: a larger one is
    # split across two of DuckDB's and merged when the load commits (see DUCKDB_ROW_GROUP).
    parquet_format = ParquetFormatConfiguration(
        compression="none", row_group_size=settings.DUCKDB_ROW_GROUP
    )
    return dlt.destinations.duckdb(credentials, parquet_format=parquet_format)


@contextmanager
def duckdb_held_open(pipeline: Any) -> Iterator[None]:
    """DuckDB: the database kept open for a whole run. dlt opens the file and closes it again
    around each step (the sync, each load's set-up, its copy jobs, its merge, its completion,
    the manifest: ~8 times in a one-load run, 12-40 ms each, plus a checkpoint at each close);
    while this connection is open, DuckDB hands each of those the instance already open. If it
    cannot be opened (say, another process holds the file), the run goes on without it and dlt
    reports the problem where it always has."""
    if getattr(pipeline.destination, "destination_type", None) != "dlt.destinations.duckdb":
        yield
        return
    try:
        # No schema of its own: dlt's ad hoc one when the pipeline has none yet.
        client = pipeline.sql_client()
        client.open_connection()
    except Exception as exc:
        log.debug("DuckDB not held open for the run: %s", exc)
        yield
        return
    try:
        yield
    finally:
        client.close_connection()
