"""Entrypoint: one incremental load of Leads v1 API leads into a dlt destination (DuckDB by
default, the same file as MEGA's, dataset ``leads_v1``).

CLI: ``python -m pipelines.leads_v1 --help`` (console script ``leads-v1``).
Python: ``from pipelines.leads_v1 import run`` → ``RunResult``; raises ``RunFailed``.
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
    from pipelines.registry import LEADS_V1
    from pipelines.result import RunFailed, RunResult
    from sources.core.settings import setting_names

__all__ = ["SOURCE_SETTINGS", "RunFailed", "RunResult", "main", "run"]

SOURCE_SETTINGS = setting_names(LEADS_V1.settings)


def run(destination: Any = None, **options: Any) -> RunResult:
    """Load the organization's leads that are new, changed or deleted since the last run.
    ``destination`` and the run's options as for ``pipelines.mega_leads.run``; the rest are the
    ``leads_v1`` source's settings (``new_only``, ``delete_mode``, ``detail_concurrency``,
    filters, credentials …: ``LeadsV1Settings``); omitted ones come from dlt config.
    Raises ``RunFailed`` (with ``.result``) if the run stops early; committed checkpoints stay."""
    return run_source(LEADS_V1, destination, **options)


def build_parser() -> Any:
    return source_parser(LEADS_V1)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The command: ends the process with the run's exit code (``source_main``)."""
    source_main(LEADS_V1, run, argv)


if __name__ == "__main__":
    main()
