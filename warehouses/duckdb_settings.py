"""The DuckDB warehouse's settings, read once from dlt config (``[destination.duckdb]``): the
file (one rule for every command), its size, thread and storage settings, and the check that the
file's name cannot clash with the dataset's."""

from __future__ import annotations

import functools
import os
import re

import dlt
import duckdb

from sources.core.dlt_config import project_path
from sources.core.errors import ConfigurationError

# The file every source loads into unless told otherwise. Not "mega.duckdb": a DuckDB file whose
# catalog name equals the dataset name fails the load (check_file_and_dataset).
DEFAULT_FILE = "mega_leads.duckdb"
DUCKDB_MEMORY_LIMIT = "128MB"
DUCKDB_CHECKPOINT_THRESHOLD = "16MB"  # DuckDB's own default
# DuckDB 2.0 writes a storage format DuckDB 1.x (its CLI from the registry, BI tools that bundle
# it) refuses. v1.4.0: read by DuckDB 1.4 LTS and 1.5, at no measured cost; v1.0.0 would load
# slower into larger files (RESULTS.md).
DUCKDB_STORAGE_VERSION = "v1.4.0"
_DUCKDB_SIZE = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


def _setting(name: str) -> str:
    return dlt.config.get(f"destination.duckdb.{name}", str) or ""


def default_duckdb_threads() -> int:
    """Half the cores, at least one: the other half fetches and shapes while DuckDB loads."""
    return max(1, (os.cpu_count() or 2) // 2)


def duckdb_size_setting(setting: str, default: str) -> str:
    """A size setting of ``[destination.duckdb]``, checked before DuckDB would refuse it with an
    error dlt reports as a failed connection."""
    value = (_setting(setting) or default).strip()
    if not _DUCKDB_SIZE.match(value):
        raise ConfigurationError(
            f"{setting} must be a size such as '16MB' or '1GB', got {value!r} "
            f"(setting DESTINATION__DUCKDB__{setting.upper()})"
        )
    return value


def duckdb_threads_setting() -> int:
    """``threads``: read as text so that 'two' or '-1' is one line, not dlt's traceback."""
    value = _setting("threads").strip()
    if not value:
        return default_duckdb_threads()
    if not value.isdigit() or int(value) < 1:
        raise ConfigurationError(
            f"threads must be a whole number of at least 1, got {value!r} "
            "(setting DESTINATION__DUCKDB__THREADS)"
        )
    return int(value)


def duckdb_storage_version() -> str:
    """``storage_version``: the oldest DuckDB that must open the file."""
    value = _setting("storage_version").strip() or DUCKDB_STORAGE_VERSION
    # The default needs no asking (14-50 ms): DuckDB 1.x opens files made with it (tests:
    # test_duckdb_warehouse.py, BI tools).
    if value != DUCKDB_STORAGE_VERSION and not _known_storage_version(value):
        raise ConfigurationError(
            f"storage_version must be a DuckDB release such as 'v1.0.0' or 'latest', got "
            f"{value!r} (setting DESTINATION__DUCKDB__STORAGE_VERSION)"
        )
    return value


@functools.lru_cache(maxsize=8)
def _known_storage_version(value: str) -> bool:
    """Asked of DuckDB itself, in memory (14 ms, so once a process): exactly what it accepts."""
    try:
        duckdb.connect(":memory:", config={"storage_compatibility_version": value}).close()
    except duckdb.Error:
        return False
    return True


def catalog_name(path: str) -> str:
    """The catalog DuckDB names after a file: its name up to the first dot ('.a.b' → 'a')."""
    parts = [part for part in os.path.basename(path).split(".") if part]
    return parts[0] if parts else ""


def check_file_and_dataset(path: str, dataset_name: str) -> None:
    """A DuckDB file whose catalog is named like the dataset's schema breaks dlt's load (a Binder
    error, and a pending package). Compared as DuckDB does: without case, after dlt normalises
    the dataset name ('My Data' → my_data)."""
    # Any schema carries dlt's configured naming convention: the one the dataset is named by.
    schema = dlt.Schema("naming").naming.normalize_table_identifier(dataset_name)
    if catalog_name(path).lower() == schema.lower():
        raise ConfigurationError(
            f"the DuckDB file {path!r} is named like the dataset {dataset_name!r} (schema "
            f"{schema!r}); DuckDB then cannot tell its catalog from the schema and the load "
            "fails. Pick another file name (DESTINATION__DUCKDB__CREDENTIALS) or dataset "
            "(--dataset)"
        )


def duckdb_path() -> str:
    """The one DuckDB file of runs, pushes, views and the dictionary: ``DESTINATION__DUCKDB__
    CREDENTIALS`` (default ``mega_leads.duckdb``), a relative path taken from the project
    folder whatever the working directory (``project_path``)."""
    return str(project_path(configured_path()))


def configured_path() -> str:
    return _setting("credentials") or DEFAULT_FILE
