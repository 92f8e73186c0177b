"""Entrypoint: one incremental load of MEGA leads into a dlt destination (DuckDB by default).

CLI: ``python -m pipelines.mega_leads --help`` (console script ``mega-leads``).
Python: ``from pipelines.mega_leads import run`` → ``RunResult``; raises ``RunFailed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

from pipelines.gc_tuning import collections_off

# The imports' objects live as long as the process: collecting meanwhile frees nothing.
with collections_off():
    from sources.core.dlt_config import configure_dlt

    configure_dlt()

    # dlt_config must be registered before dlt resolves anything.
    from pipelines.entrypoint import run_source, source_main, source_parser
    from pipelines.registry import MEGA
    from pipelines.result import RunFailed, RunResult
    from sources.core.settings import setting_names

__all__ = ["RunFailed", "RunResult", "main", "run"]

# Every setting the source reads from dlt config is accepted by `run()` too.
SOURCE_OPTIONS = setting_names(MEGA.settings)


def run(destination: Any = None, **options: Any) -> RunResult:
    """Load what changed since the last run. ``destination`` is any dlt destination (name,
    factory or instance; default DuckDB). ``options``: ``dataset_name``, ``pipeline_name``,
    ``full_refresh``, ``discard_pending``, ``pipelines_dir``, ``table_format`` ("delta" or
    "iceberg", for the filesystem destination; else ``[destination.filesystem] table_format``)
    (``pipelines.entrypoint.run_source``), and the ``mega`` source's settings (filters,
    ``initial_updated_since``, ``lookback``, ``checkpoint_pages``, credentials …: ``MegaSettings``);
    omitted ones come from dlt config (``dlt_config/``, env vars).

    ``reconcile=True`` sweeps every lead id at the source afterwards and marks the loaded leads
    that vanished (``delete_mode`` "soft": ``_deleted_at`` set; "hard": rows removed).
    Raises ``RunFailed`` (with ``.result``) if the run stops early; committed checkpoints stay."""
    return run_source(MEGA, destination, **options)


def build_parser() -> Any:
    return source_parser(MEGA)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The command: ends the process with the run's exit code (``source_main``)."""
    source_main(MEGA, run, argv)


if __name__ == "__main__":
    main()
