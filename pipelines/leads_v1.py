"""Entrypoint: one incremental load of Leads v1 API leads into a dlt destination (DuckDB by
default, the same file as MEGA's, dataset ``leads_v1``).

CLI: ``python -m pipelines.leads_v1 --help`` (console script ``leads-v1``).
Python: ``from pipelines.leads_v1 import run`` → ``RunResult``; raises ``RunFailed``.
"""

from __future__ import annotations

import argparse
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
from pipelines.leads_v1_run import LeadsV1Run  # noqa: E402
from pipelines.result import RunFailed, RunResult  # noqa: E402
from pipelines.runner import make_pipeline  # noqa: E402
from sources.core.errors import ConfigurationError  # noqa: E402
from sources.leads_v1 import SOURCE_SETTINGS, settings  # noqa: E402
from sources.leads_v1.config import LeadsV1Settings  # noqa: E402
from warehouses import resolve_warehouse  # noqa: E402

__all__ = ["SOURCE_SETTINGS", "RunFailed", "RunResult", "main", "run"]


def run(
    destination: Any = None,
    dataset_name: str = settings.DEFAULT_DATASET,
    pipeline_name: str = settings.PIPELINE_NAME,
    full_refresh: bool = False,
    discard_pending: bool = False,
    pipelines_dir: str | None = None,
    table_format: str | None = None,
    **source_options: Any,
) -> RunResult:
    """Load the organization's leads that are new, changed or deleted since the last run.
    ``source_options`` are the ``leads_v1`` source's settings (``new_only``, ``delete_mode``,
    ``detail_concurrency``, filters, credentials …); omitted ones come from dlt config.
    Raises ``RunFailed`` (with ``.result``) if the run stops early; committed checkpoints stay."""
    config = checked_settings(LeadsV1Settings, source_options)
    try:
        warehouse = resolve_warehouse(destination, dataset_name, table_format)
    except ConfigurationError as exc:
        raise located(exc) from None
    pipeline = make_pipeline(pipeline_name, warehouse.destination, dataset_name, pipelines_dir)
    return LeadsV1Run(
        pipeline, warehouse, config, full_refresh=full_refresh, discard_pending=discard_pending
    ).execute()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leads-v1",
        description="Load the Leads v1 API's new, changed and deleted leads into a warehouse.",
    )
    common_arguments(parser, settings.DEFAULT_DATASET, settings.PIPELINE_NAME)
    setting_arguments(parser, LeadsV1Settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return main_for(
        "leads-v1",
        args,
        lambda: run(
            **common_options(args, SOURCE_SETTINGS),
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
