"""Entrypoint: one incremental load of MEGA leads into a dlt destination (DuckDB by default).

CLI: ``python -m pipelines.mega_leads --help`` (console script ``mega-leads``).
Python: ``from pipelines.mega_leads import run`` → ``RunResult``; raises ``RunFailed``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import Any

from pipelines.dlt_setup import configure_dlt

configure_dlt()

# dlt_config must be registered before dlt resolves anything.
from pipelines.entrypoint import (  # noqa: E402
    checked_settings,
    common_arguments,
    common_options,
    located,
    main_for,
    setting_arguments,
)
from pipelines.mega_run import MegaRun  # noqa: E402
from pipelines.result import RunFailed, RunResult  # noqa: E402
from pipelines.runner import make_pipeline  # noqa: E402
from sources.core.errors import ConfigurationError  # noqa: E402
from sources.mega import SOURCE_SETTINGS, settings  # noqa: E402
from sources.mega.config import MegaSettings  # noqa: E402
from warehouses import resolve_warehouse  # noqa: E402

__all__ = ["RunFailed", "RunResult", "main", "run"]

log = logging.getLogger("crm_leads.run")

# Every setting the source reads from dlt config is accepted by `run()` too.
SOURCE_OPTIONS = SOURCE_SETTINGS


def run(
    destination: Any = None,
    dataset_name: str = settings.DEFAULT_DATASET,
    pipeline_name: str = settings.PIPELINE_NAME,
    full_refresh: bool = False,
    reconcile: bool = False,
    delete_mode: str = "soft",
    discard_pending: bool = False,
    pipelines_dir: str | None = None,
    table_format: str | None = None,
    **source_options: Any,
) -> RunResult:
    """Load what changed since the last run. ``destination`` is any dlt destination (name,
    factory or instance; default DuckDB). ``source_options`` are the ``mega`` source's arguments
    (filters, ``initial_updated_since``, ``lookback``, ``checkpoint_pages``, credentials …);
    omitted ones come from dlt config (``dlt_config/``, env vars). ``table_format`` ("delta" or
    "iceberg") is for the filesystem destination (else ``[destination.filesystem] table_format``).

    ``reconcile`` sweeps every lead id at the source afterwards and marks the loaded leads that
    vanished (``delete_mode`` "soft": ``_deleted_at`` set; "hard": rows removed).
    Raises ``RunFailed`` (with ``.result``) if the run stops early; committed checkpoints stay."""
    config = checked_settings(MegaSettings, source_options)
    try:
        warehouse = resolve_warehouse(destination, dataset_name, table_format)
    except ConfigurationError as exc:
        raise located(exc) from None
    pipeline = make_pipeline(pipeline_name, warehouse.destination, dataset_name, pipelines_dir)
    job = MegaRun(
        pipeline,
        warehouse,
        config,
        full_refresh=full_refresh,
        reconcile=reconcile,
        delete_mode=delete_mode,
        discard_pending=discard_pending,
    )
    return job.execute()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mega-leads",
        description="Load MEGA CRM leads that changed since the last run into a warehouse.",
    )
    common_arguments(parser, settings.DEFAULT_DATASET, settings.PIPELINE_NAME)
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
    setting_arguments(parser, MegaSettings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return main_for(
        "mega-leads",
        args,
        lambda: run(
            reconcile=args.reconcile,
            delete_mode=args.delete_mode,
            **common_options(args, SOURCE_OPTIONS),
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
