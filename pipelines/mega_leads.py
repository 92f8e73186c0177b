"""Entrypoint: one incremental load of MEGA leads into a dlt destination (DuckDB by default).

CLI: ``python -m pipelines.mega_leads --help`` (console script ``mega-leads``).
Python: ``from pipelines.mega_leads import run`` → ``RunResult``; raises ``RunFailed``.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from pipelines.dlt_setup import configure_dlt

configure_dlt()

import dlt  # noqa: E402  (dlt_config must be registered before dlt resolves anything)
from dlt.common.destination.configuration import ParquetFormatConfiguration  # noqa: E402
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials  # noqa: E402

from pipelines.result import RunFailed, RunResult  # noqa: E402
from pipelines.runner import LeadRun, make_pipeline  # noqa: E402
from sources.mega import settings  # noqa: E402
from sources.mega.errors import ConfigurationError, MegaError  # noqa: E402

__all__ = ["RunFailed", "RunResult", "main", "run"]

log = logging.getLogger("mega")

DUCKDB_MEMORY_LIMIT = "128MB"
DUCKDB_CHECKPOINT_THRESHOLD = "16MB"  # DuckDB's own default
_DUCKDB_SIZE = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)

SOURCE_OPTIONS = (
    "base_url",
    "api_token",
    "customer_id",
    "status",
    "stage_id",
    "lead_line",
    "search",
    "created_since",
    "initial_updated_since",
    "lookback",
    "checkpoint_pages",
    "workers",
    "fetch_process_min_leads",
)


def run(
    destination: Any = None,
    dataset_name: str = settings.DEFAULT_DATASET,
    pipeline_name: str = settings.PIPELINE_NAME,
    full_refresh: bool = False,
    reconcile: bool = False,
    delete_mode: str = "soft",
    discard_pending: bool = False,
    pipelines_dir: str | None = None,
    **source_options: Any,
) -> RunResult:
    """Load what changed since the last run. ``destination`` is any dlt destination (name,
    factory or instance; default DuckDB). ``source_options`` are the ``mega`` source's arguments
    (filters, ``initial_updated_since``, ``lookback``, ``checkpoint_pages``, credentials …);
    omitted ones come from dlt config (``dlt_config/``, env vars).

    ``reconcile`` sweeps every lead id at the source afterwards and marks the loaded leads that
    vanished (``delete_mode`` "soft": ``_deleted_at`` set; "hard": rows removed).
    Raises ``RunFailed`` (with ``.result``) if the run stops early; committed checkpoints stay."""
    unknown = set(source_options) - set(SOURCE_OPTIONS)
    if unknown:
        raise ConfigurationError(f"unknown source option(s): {', '.join(sorted(unknown))}")
    options = {key: value for key, value in source_options.items() if value is not None}
    pipeline = make_pipeline(
        pipeline_name, resolve_destination(destination, dataset_name), dataset_name, pipelines_dir
    )
    job = LeadRun(
        pipeline,
        options,
        full_refresh=full_refresh,
        reconcile=reconcile,
        delete_mode=delete_mode,
        discard_pending=discard_pending,
    )
    return job.execute()


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


def resolve_destination(destination: Any, dataset_name: str) -> Any:
    """DuckDB unless told otherwise, in a file that cannot clash with the dataset name."""
    if destination not in (None, "duckdb"):
        return destination
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mega-leads",
        description="Load MEGA CRM leads that changed since the last run into a warehouse.",
    )
    parser.add_argument("--destination", default=None, help="dlt destination (default: duckdb)")
    parser.add_argument("--dataset", default=settings.DEFAULT_DATASET, help="dataset / schema")
    parser.add_argument("--pipeline-name", default=settings.PIPELINE_NAME)
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="drop the lead tables and their state, then load everything again",
    )
    parser.add_argument(
        "--initial-updated-since",
        metavar="TS",
        help="backfill start (ISO-8601) for a stream with no state yet",
    )
    parser.add_argument("--lookback", help="re-read this far behind the mark, e.g. 15m")
    parser.add_argument(
        "--reconcile",
        action="store_true",
        help="afterwards, sweep every lead id at the source and mark leads that vanished",
    )
    parser.add_argument(
        "--delete-mode",
        choices=["soft", "hard"],
        default="soft",
        help="reconcile: set _deleted_at (soft, default) or remove the rows (hard)",
    )
    parser.add_argument(
        "--discard-pending",
        action="store_true",
        help="drop data an earlier run failed to load (its state reverts) instead of loading it",
    )
    parser.add_argument("--checkpoint-pages", type=int, help="commit data + state every N pages")
    parser.add_argument(
        "--workers",
        type=int,
        help="backfill with K parallel workers over equal updated_at ranges (default 1)",
    )
    filters = parser.add_argument_group(
        "filters", "narrow what is loaded; each filter set keeps its own state"
    )
    filters.add_argument("--status")
    filters.add_argument("--stage-id")
    filters.add_argument("--lead-line", choices=["buyer", "seller"])
    filters.add_argument("--search")
    filters.add_argument("--created-since", metavar="TS")
    parser.add_argument("-q", "--quiet", action="store_true", help="only the summary and errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="mega-leads: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("dlt").setLevel(logging.ERROR)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        result = run(
            destination=args.destination,
            dataset_name=args.dataset,
            pipeline_name=args.pipeline_name,
            full_refresh=args.full_refresh,
            reconcile=args.reconcile,
            delete_mode=args.delete_mode,
            discard_pending=args.discard_pending,
            **{name: getattr(args, name, None) for name in SOURCE_OPTIONS},
        )
    except RunFailed as exc:
        print(f"mega-leads: error: {exc}", file=sys.stderr)
        return 1
    except MegaError as exc:
        print(f"mega-leads: error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
