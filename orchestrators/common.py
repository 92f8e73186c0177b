"""What the orchestrator examples share: the registered sources and what each tool makes of
them (a load and its run options per source, its schedules), which failures a retry can fix,
and a run's result in the plain JSON types every orchestrator stores (Airflow's XCom, Dagster's
metadata, Prefect's artifacts). Imports no orchestrator."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
from collections.abc import Callable
from typing import Any

from sources.core.dlt_config import configure_dlt

configure_dlt()

# dlt_config must be registered before dlt resolves anything (as the entrypoints do).
from pipelines.entrypoint import run_source  # noqa: E402
from pipelines.failures import root_error  # noqa: E402

# Re-exported: the orchestrator modules take the registry from here, once dlt_config is.
from pipelines.registry import SOURCES as SOURCES  # noqa: E402
from pipelines.registry import Schedule, Source  # noqa: E402
from pipelines.result import RunFailed, RunResult  # noqa: E402
from sources.core.errors import (  # noqa: E402
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    Interrupted,
    InvalidRequestError,
    NotFoundError,
)
from sources.core.settings import flags  # noqa: E402

# A retry sends the same requests with the same settings: it cannot fix a missing setting, a
# refused token, a wrong customer id or base URL, a filter the API rejects.
NO_RETRY = (
    ConfigurationError,
    AuthenticationError,
    AuthorizationError,
    InvalidRequestError,
    NotFoundError,
    Interrupted,
)


def retryable(exc: BaseException) -> bool:
    """Whether an orchestrator's retry of a run can help: not for bad settings, an answer that
    refuses the credentials, or a stop someone asked for (Ctrl-C, or the orchestrator's own
    SIGTERM when a run is cancelled: a retry would undo the cancel). Outages, rate limits past
    the run's own retries, a warehouse file locked by another run may pass: retry those, and
    anything else (a bug or the machine), as the orchestrator would by default. ``exc``: what
    ``run()`` raised, or the error dlt wrapped around the source's (dagster-dlt)."""
    if isinstance(exc, RunFailed) and exc.result.outcome == "interrupted":
        return False
    return not isinstance(root_error(exc), NO_RETRY)


def as_json(result: RunResult) -> dict[str, Any]:
    """The whole result in JSON types (datetimes as ISO text): what XCom and artifacts store."""
    loaded: dict[str, Any] = json.loads(json.dumps(result.as_dict(), default=str))
    return loaded


def markdown(result: RunResult, title: str) -> str:
    """A short report of one run: the figures an operator checks first, then the summary line."""
    rows = ", ".join(f"{table} {count}" for table, count in sorted(result.rows.items()))
    lines = [
        f"# {title}: {result.outcome}",
        "",
        "| | |",
        "|---|---|",
        f"| leads | {result.leads} |",
        f"| rows loaded | {rows or 'none'} |",
        f"| pages / requests / retries | {result.pages} / {result.requests} / {result.retries} |",
        f"| checkpoints | {result.checkpoints} |",
        f"| deleted at the source | {result.deleted} |",
        f"| high-water mark | {result.high_water_mark_before} → {result.high_water_mark_after} |",
        f"| into | {result.location or result.destination}, dataset {result.dataset_name} |",
        f"| run id (row in the manifest table) | {result.run_id} |",
        f"| duration | {result.duration_s:.1f} s |",
    ]
    if result.error:
        lines.append(f"| error | {result.error} |")
    lines += ["", f"`{result.summary()}`"]
    return "\n".join(lines)


def mega_accounts() -> list[str]:
    """The MEGA accounts configured (README: Many accounts), what the examples fan out over:
    one task, partition or mapped run per account."""
    from pipelines.accounts import account_names
    from pipelines.registry import MEGA

    return account_names(MEGA.settings)


# ----- the registered sources (pipelines/registry.py), as every example names them ------------


def runner(source: Source) -> Callable[..., RunResult]:
    """``source``'s ``run()``, as its entrypoint's (``pipelines.mega_leads.run`` …)."""
    return functools.partial(run_source, source)


def run_name(source: Source) -> str:
    """Its command as an identifier: ``mega_leads``, ``leads_v1`` (jobs, tasks, flows)."""
    return source.command.replace("-", "_")


def asset_name(source: Source) -> str:
    """What its load makes: ``mega_leads``, ``leads_v1_leads``."""
    return f"{source.name}_leads"


def switches(source: Source) -> dict[str, bool]:
    """The on/off options of ``source``'s run that an orchestrator's run config offers, with
    their defaults: its own run options that are switches on its command line (MEGA's
    ``reconcile``), its settings that are (Leads v1's ``new_only``), and ``full_refresh``."""
    parser = argparse.ArgumentParser(add_help=False)
    if source.cli_extras is not None:
        source.cli_extras(parser)
    given = vars(parser.parse_args([]))
    found = {name: given[name] for name in source.run_options if isinstance(given[name], bool)}
    defaults = {spec.name: spec.default for spec in dataclasses.fields(source.settings)}
    found |= {name: bool(defaults[name]) for name, _, flag in flags(source.settings) if flag.switch}
    return {**found, "full_refresh": False}


def daily(schedule: Schedule) -> bool:
    """Whether it runs at most once a day (a fixed minute and hour): the nightly ones."""
    minute, hour = schedule.cron.split()[:2]
    return minute.isdigit() and hour.isdigit()
