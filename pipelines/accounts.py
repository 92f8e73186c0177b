"""Several accounts of one source or push target (README: Many accounts): each configured in its
own section, ``[<kind>.<section>.accounts.<name>]``
(``SOURCES__<SOURCE>__ACCOUNTS__<NAME>__<SETTING>``, ``DESTINATION__<TARGET>__ACCOUNTS__…``),
settings it does not set read from ``[<kind>.<section>]``. Each account's run or push is one of
its own (a source's: pipeline, state, staging tables, rate-limit budget, manifest rows with its
name; a push's: credentials, tenant, rate-limit budget, ledger rows), so one account's 401,
outage or malformed page stops and rolls back nothing of the others'.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import dlt

from pipelines.failures import explain
from pipelines.result import RunFailed
from push_targets.core.result import PushFailed
from sources.core.errors import ConfigurationError, ConnectorError
from sources.core.settings import ConnectorSettings

# Environment variable names are upper case: a name must survive the round trip.
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")


class Summarized(Protocol):
    def summary(self) -> str: ...


R = TypeVar("R", bound=Summarized)


def account_names(spec: type[ConnectorSettings]) -> list[str]:
    """The accounts configured for the source or push target of ``spec``, in the environment or
    the toml files; empty when it is configured the single-account way."""
    kind, section = spec.__kind__, spec.__setting_section__
    prefix = f"{kind.upper()}__{section.upper()}__ACCOUNTS__"
    names = {
        key[len(prefix) :].split("__", 1)[0].lower()
        for key in os.environ
        if key.startswith(prefix) and "__" in key[len(prefix) :]
    }
    for accessor in (dlt.config, dlt.secrets):
        table: Any = accessor.get(f"{kind}.{section}.accounts")
        if isinstance(table, Mapping):
            names.update(str(name) for name in table)
    for name in names:
        check_account_name(spec, name)
    return sorted(names)


def check_account_name(spec: type[ConnectorSettings], name: str) -> None:
    if not _NAME.match(name):
        raise ConfigurationError(
            f"account name {name!r} of [{spec.__kind__}.{spec.__setting_section__}.accounts]: "
            "lower-case letters, digits and _ only (it is part of environment variable and "
            "pipeline names)"
        )


@dataclass
class AccountsResult(Generic[R]):
    """The runs (or pushes) of several accounts: each one's result, and the reason of each that
    failed."""

    results: dict[str, R] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [result.summary() for result in self.results.values()]
        lines += [f"{name}: failed: {reason}" for name, reason in self.failed.items()]
        return "\n".join(lines)


class AccountsFailed(ConnectorError):
    """Some accounts failed; the others ran to the end (``result`` holds both)."""

    def __init__(self, result: AccountsResult[Any]) -> None:
        names = ", ".join(sorted(result.failed))
        super().__init__(
            f"{len(result.failed)} of {len(result.failed) + len(result.results)} accounts "
            f"failed: {names}"
        )
        self.result = result


def run_accounts(
    spec: type[ConnectorSettings],
    run: Callable[..., R],
    names: list[str],
    on_done: Callable[[str, R | None, str | None], None] | None = None,
    **options: Any,
) -> AccountsResult[R]:
    """``run(account=name, **options)`` for each account of ``spec``'s source or target in turn,
    whatever the others did; raises ``AccountsFailed`` after the last if any failed. A Ctrl-C
    stops at once."""
    outcome: AccountsResult[R] = AccountsResult()
    for name in names:
        check_account_name(spec, name)
        result: R | None = None
        try:
            result = run(account=name, **options)
            reason = None
        except (RunFailed, PushFailed) as exc:
            if exc.interrupted:
                raise
            reason = str(exc)
        except ConnectorError as exc:  # its settings: nothing ran for it
            reason = explain(exc)
        if result is not None:
            outcome.results[name] = result
        else:
            outcome.failed[name] = str(reason)
        if on_done is not None:
            on_done(name, result, reason)
    if outcome.failed:
        raise AccountsFailed(outcome)
    return outcome
