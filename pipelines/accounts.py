"""Several accounts of one source (README: Many accounts): each configured in its own section,
``[sources.<source>.accounts.<name>]`` (``SOURCES__<SOURCE>__ACCOUNTS__<NAME>__<SETTING>``),
settings it does not set read from ``[sources.<source>]``. Each account's run is a run of its
own (pipeline, state, staging tables, rate-limit budget, manifest rows with its name), so one
account's 401, outage or malformed page stops and rolls back nothing of the others'.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dlt

from pipelines.failures import explain
from pipelines.registry import Source
from pipelines.result import RunFailed, RunResult
from sources.core.errors import ConfigurationError, ConnectorError

# Environment variable names are upper case: a name must survive the round trip.
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")


def account_names(source: Source) -> list[str]:
    """The accounts configured for ``source``, in the environment or the toml files; empty
    when it is configured the single-account way."""
    prefix = f"SOURCES__{source.name.upper()}__ACCOUNTS__"
    names = {
        key[len(prefix) :].split("__", 1)[0].lower()
        for key in os.environ
        if key.startswith(prefix) and "__" in key[len(prefix) :]
    }
    for accessor in (dlt.config, dlt.secrets):
        table: Any = accessor.get(f"sources.{source.name}.accounts")
        if isinstance(table, Mapping):
            names.update(str(name) for name in table)
    for name in names:
        check_account_name(source, name)
    return sorted(names)


def check_account_name(source: Source, name: str) -> None:
    if not _NAME.match(name):
        raise ConfigurationError(
            f"account name {name!r} of [sources.{source.name}.accounts]: lower-case letters, "
            "digits and _ only (it is part of environment variable and pipeline names)"
        )


@dataclass
class AccountsResult:
    """The runs of several accounts: each one's result, and the reason of each that failed."""

    results: dict[str, RunResult] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [result.summary() for result in self.results.values()]
        lines += [f"{name}: failed: {reason}" for name, reason in self.failed.items()]
        return "\n".join(lines)


class AccountsFailed(ConnectorError):
    """Some accounts failed; the others ran to the end (``result`` holds both)."""

    def __init__(self, result: AccountsResult) -> None:
        names = ", ".join(sorted(result.failed))
        super().__init__(
            f"{len(result.failed)} of {len(result.failed) + len(result.results)} accounts "
            f"failed: {names}"
        )
        self.result = result


def run_accounts(
    source: Source,
    run: Callable[..., RunResult],
    names: list[str],
    on_done: Callable[[str, RunResult | None, str | None], None] | None = None,
    **options: Any,
) -> AccountsResult:
    """``run(account=name, **options)`` for each account in turn, whatever the others did;
    raises ``AccountsFailed`` after the last if any failed. A Ctrl-C stops at once."""
    outcome = AccountsResult()
    for name in names:
        check_account_name(source, name)
        try:
            result: RunResult | None = run(account=name, **options)
            reason = None
        except RunFailed as exc:
            if exc.result.outcome == "interrupted":
                raise
            result, reason = None, str(exc)
        except ConnectorError as exc:  # its settings: nothing ran for it
            result, reason = None, explain(exc)
        if result is not None:
            outcome.results[name] = result
        else:
            outcome.failed[name] = str(reason)
        if on_done is not None:
            on_done(name, result, reason)
    if outcome.failed:
        raise AccountsFailed(outcome)
    return outcome
