"""What the orchestrator examples share: which failures a retry can fix, and a run's result in
the plain JSON types every orchestrator stores (Airflow's XCom, Dagster's metadata, Prefect's
artifacts). Imports no orchestrator."""

from __future__ import annotations

import json
from typing import Any

from pipelines.failures import root_error
from pipelines.result import RunFailed, RunResult
from sources.core.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    Interrupted,
    InvalidRequestError,
    NotFoundError,
)

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
    # Imported here: the registry is the entrypoints', loaded once dlt_config is registered.
    from pipelines.accounts import account_names
    from pipelines.registry import MEGA

    return account_names(MEGA.settings)
