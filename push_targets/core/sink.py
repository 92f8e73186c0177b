"""A target as a dlt destination (``@dlt.destination``): each batch dlt hands over is pushed
with the ledger and the idempotency keys, so dlt's replay of a batch after a failure creates
nothing twice. Rejected rows are logged and kept in the ledger; 401/403 stop the load for good
(dlt does not retry them); an outage is a transient failure dlt retries."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from dlt.common.destination.exceptions import (
    DestinationTerminalException,
    DestinationTransientException,
)

from sources.core.dlt_config import config_dir, project_path
from sources.core.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    ConnectorError,
)
from warehouses.duckdb_settings import duckdb_storage_version

from .ledger import Ledger
from .push import Pusher, Target
from .result import PushResult
from .rows import Survey, check_source
from .secret_key import ledger_secret

log = logging.getLogger("crm_leads.push")


def push_batch(
    target: Target,
    items: Iterable[Mapping[str, Any]],
    table: Mapping[str, Any],
    key_column: str,
    ledger_path: str,
    concurrency: int,
) -> PushResult:
    # dlt leaves a row's null values out of its items: the table's columns say they are empty.
    columns = [name for name in table.get("columns", {}) if not name.startswith("_dlt")]
    empty = dict.fromkeys(columns)
    rows = [{**empty, **item} for item in items]
    where = f"the table {table.get('name')}"
    try:
        check_source(Survey(columns, {}), where, key_column, target.mapping, target.required)
    except ConfigurationError as exc:
        target.close()
        raise DestinationTerminalException(str(exc)) from None
    try:
        path = project_path(ledger_path)
        with Ledger(path, ledger_secret(config_dir()), duckdb_storage_version()) as ledger:
            details = path.with_name(f"{path.name}.push_{target.name}.txt")
            pusher = Pusher(target, ledger, concurrency, key_column, details_file=details)
            try:
                result = pusher.push(rows)
            finally:
                pusher.close()
    except (AuthenticationError, AuthorizationError, ConfigurationError) as exc:
        raise DestinationTerminalException(str(exc)) from None
    except ConnectorError as exc:
        raise DestinationTransientException(str(exc)) from None
    finally:
        target.close()
    if result.rejected:
        log.warning("%s", result.summary())
    return result
