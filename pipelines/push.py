"""Entrypoint: push rows into a CRM ("reverse ETL"), exactly once in effect.

CLI: ``python -m pipelines.push --target mega|apollo|leads_v1 (--table T | --query SQL | --file F)
--key COLUMN [--map field=column,…] [--dry-run] [--account NAME] [--account-column COLUMN]``
(console script ``push-leads``).
Python: ``from pipelines.push import push`` → ``PushResult``; raises ``PushFailed``;
``push_accounts`` → ``AccountsResult`` (README: Many accounts); raises ``AccountsFailed``.

Rows come from the runs' DuckDB file (``warehouses.duckdb_settings.duckdb_path``) or a
file; the ledger is ``push._push_ledger`` in that DuckDB file. Exit codes: 0 every row is at the
target, 3 some rows were rejected (the summary and the ledger say which and why), 1 the push
stopped (401/403, an outage), 2 bad settings, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from sources.core.dlt_config import configure_dlt

configure_dlt()

from pipelines.accounts import (  # noqa: E402
    AccountsFailed,
    AccountsResult,
    account_names,
    check_account_name,
    run_accounts,
)
from pipelines.entrypoint import located  # noqa: E402
from pipelines.failures import token_hint  # noqa: E402
from pipelines.stop_signals import stop_on_signals  # noqa: E402
from push_targets import apollo, leads_v1, mega  # noqa: E402
from push_targets.core.ledger import Ledger  # noqa: E402
from push_targets.core.push import OnChange, Pusher, Target  # noqa: E402
from push_targets.core.result import PushFailed, PushResult  # noqa: E402
from push_targets.core.rows import (  # noqa: E402
    check_accounts_named,
    check_source,
    rows_from_file,
    rows_from_query,
)
from push_targets.core.secret_key import ledger_secret  # noqa: E402
from push_targets.core.settings import PushSettings  # noqa: E402
from sources.core.dlt_config import check_config, config_dir  # noqa: E402
from sources.core.errors import (  # noqa: E402
    ConfigurationError,
    ConnectorError,
    Interrupted,
)
from sources.core.pacing import stoppable_sleep  # noqa: E402
from sources.core.settings import resolve_settings  # noqa: E402
from warehouses.duckdb_settings import duckdb_path, duckdb_storage_version  # noqa: E402

log = logging.getLogger("crm_leads.run")

# name -> (its settings spec, its target)
TARGETS: dict[str, tuple[type[PushSettings], Callable[..., Target]]] = {
    "mega": (mega.MegaTargetSettings, mega.MegaTarget),
    "apollo": (apollo.ApolloTargetSettings, apollo.ApolloTarget),
    "leads_v1": (leads_v1.LeadsV1TargetSettings, leads_v1.LeadsV1Target),
}
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
__all__ = ["AccountsFailed", "PushFailed", "PushResult", "main", "push", "push_accounts"]


def push(
    target: str,
    *,
    table: str | None = None,
    query: str | None = None,
    file: str | Path | None = None,
    key: str = "id",
    field_map: str | None = None,
    dry_run: bool = False,
    on_change: OnChange = "skip",
    concurrency: int | None = None,
    duckdb_file: str | None = None,
    account: str | None = None,
    account_column: str | None = None,
    **target_settings: Any,
) -> PushResult:
    """Push the rows of one source (``table``, ``query`` or ``file``) to ``target``; its
    settings (credentials, ids) come from ``target_settings`` or dlt config. ``account``: one
    of several configured (README: Many accounts), with its own credentials, tenant and ledger
    rows; ``account_column``: then only the rows whose column names that account."""
    check_config()
    spec, make_target = _target(target)
    if on_change not in ("skip", "fail"):
        raise ConfigurationError(f"on_change must be skip or fail, got {on_change!r}")
    sql = _query(table, query, file)
    if account is not None:
        check_account_name(spec, account)
    elif account_column is not None or account_names(spec):
        raise _name_accounts(target, account_column)
    given = {"field_map": field_map, "concurrency": concurrency, **target_settings}
    try:
        config = resolve_settings(spec, given, account)
    except ConfigurationError as exc:
        raise located(exc) from None
    # Read now: a refused token is named with where it was read (dlt's traces do not last).
    token = config.origin("api_token")
    count = config.concurrency
    from_file = rows_from_file(Path(file)) if file else None  # checked before a file is made
    path = _warehouse_file(duckdb_file, reads_rows=not file)
    with Ledger(path, ledger_secret(config_dir()), duckdb_storage_version()) as ledger:
        rows = from_file or rows_from_query(ledger.connection, sql or "", f"the DuckDB file {path}")
        # Ctrl-C / SIGTERM: the requests in flight finish and are recorded, no other starts,
        # and a wait for a rate limit or a retry ends at once.
        stop = threading.Event()
        sink = make_target(config, count, stoppable_sleep(stop))
        try:
            if account is not None and account_column is not None:
                rows = rows.only(account_column, account)
            # Typos and repeated keys: one line before any request, not a reject per row.
            survey = rows.survey(key)
            check_source(survey, rows.where, key, sink.mapping, sink.required, account_column)
        except ConfigurationError:
            sink.close()
            raise
        own = f"_{account}" if account is not None else ""
        details = path.with_name(f"{path.name}.push_{target}{own}.txt")
        pusher = Pusher(sink, ledger, count, key, on_change, details, stop, account)
        try:
            with stop_on_signals(stop):
                return pusher.push(rows, dry_run=dry_run)
        except ConfigurationError:
            raise  # a row source that cannot be read (a missing file, a failing query)
        except ConnectorError as exc:
            assert pusher.last_result is not None  # set as a push begins
            interrupted = isinstance(exc, Interrupted)
            raise PushFailed(token_hint(exc, token), pusher.last_result, interrupted) from None
        finally:
            pusher.close()
            sink.close()


def push_accounts(
    target: str,
    *,
    account_column: str | None,
    on_done: Callable[[str, PushResult | None, str | None], None] | None = None,
    **options: Any,
) -> AccountsResult[PushResult]:
    """Every account configured for ``target`` in turn, each pushed the rows whose
    ``account_column`` holds its name (``options``: those of ``push``); one account's refused
    token or outage stops nothing of the others' (``AccountsFailed`` after the last, naming
    them). Rows naming no account are refused first, in one line, nothing sent."""
    check_config()
    spec, _ = _target(target)
    names = account_names(spec)
    if not names or account_column is None:
        raise _name_accounts(target, account_column)
    _check_rows_name_accounts(target, names, account_column, options)
    return run_accounts(
        spec, push, names, on_done, target=target, account_column=account_column, **options
    )


def _check_rows_name_accounts(
    target: str, names: list[str], column: str, options: dict[str, Any]
) -> None:
    file = options.get("file")
    sql = _query(options.get("table"), options.get("query"), file)
    section = f"destination.{target}.accounts"
    if file:
        check_accounts_named(rows_from_file(Path(file)), column, names, section)
        return
    path = _warehouse_file(options.get("duckdb_file"), reads_rows=True)
    with Ledger(path, ledger_secret(config_dir()), duckdb_storage_version()) as ledger:
        rows = rows_from_query(ledger.connection, sql or "", f"the DuckDB file {path}")
        check_accounts_named(rows, column, names, section)


def _target(name: str) -> tuple[type[PushSettings], Callable[..., Target]]:
    try:
        return TARGETS[name]
    except KeyError:
        raise ConfigurationError(f"unknown target {name!r}; known: {', '.join(TARGETS)}") from None


def _name_accounts(target: str, account_column: str | None) -> ConfigurationError:
    """Which rows go to which account, when that is not said (README: Many accounts)."""
    section = f"[destination.{target}.accounts]"
    names = account_names(TARGETS[target][0])
    if not names:
        return ConfigurationError(
            f"--account-column {account_column} names each row's account, and no account is "
            f"configured in {section} (DESTINATION__{target.upper()}__ACCOUNTS__<NAME>__…)"
        )
    return ConfigurationError(
        f"{len(names)} accounts are configured in {section} ({', '.join(names)}): push one with "
        "--account NAME (account=), or each its own rows with --account-column COLUMN, the "
        "rows' column naming their account"
    )


def _warehouse_file(duckdb_file: str | None, reads_rows: bool) -> Path:
    """The runs' DuckDB file (``--duckdb-file`` from the working directory); rows are read only
    from a file a run made: a new empty one would only fail the query."""
    path = Path(duckdb_file).resolve() if duckdb_file else Path(duckdb_path())
    if reads_rows and not path.is_file():
        how = "--duckdb-file" if duckdb_file else "DESTINATION__DUCKDB__CREDENTIALS"
        raise ConfigurationError(
            f"the DuckDB file {path} does not exist ({how}): load it first (mega-leads, "
            "leads-v1), or name the file the runs load"
        )
    return path


def _query(table: str | None, query: str | None, file: str | Path | None) -> str | None:
    given = [
        name for name, value in (("--table", table), ("--query", query), ("--file", file)) if value
    ]
    if len(given) != 1:
        raise ConfigurationError("give exactly one of --table, --query, --file")
    if table:
        if not _TABLE.match(table):
            raise ConfigurationError(f"--table must be schema.table, got {table!r}")
        return f"SELECT * FROM {table}"
    return query


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="push-leads", description="Create or update leads in a CRM from rows, exactly once."
    )
    parser.add_argument("--target", required=True, choices=sorted(TARGETS))
    source = parser.add_argument_group("rows (one of)")
    source.add_argument("--table", help="a table of the DuckDB warehouse, e.g. leads_v1.leads")
    source.add_argument("--query", help="a DuckDB query over the warehouse")
    source.add_argument("--file", help="a .csv or .jsonl file")
    parser.add_argument("--key", default="id", help="the column that identifies a row (default id)")
    parser.add_argument(
        "--map", dest="field_map", help="target_field=column,… (default: same names)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="send nothing: a JSON line per row on stdout"
    )
    parser.add_argument(
        "--on-change",
        choices=["skip", "fail"],
        default="skip",
        help="a row changed since it was created on a create-only target (mega, apollo): "
        "skip it (default) or count it rejected (exit 3)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        help=f"requests in flight (default {PushSettings.concurrency})",
    )
    parser.add_argument(
        "--duckdb-file", help="the DuckDB file of rows and ledger (default: the runs' file)"
    )
    accounts = parser.add_argument_group(
        "several accounts (README: Many accounts)",
        "with accounts configured, --account pushes the rows to one, else --account-column "
        "pushes every account in turn its own rows",
    )
    accounts.add_argument("--account", help="push to this one of the accounts configured")
    accounts.add_argument(
        "--account-column", help="the rows' column naming the account each row goes to"
    )
    parser.add_argument("-q", "--quiet", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="push-leads: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = {k: v for k, v in vars(args).items() if k not in ("quiet",)}
    # A dry run's stdout is its JSON lines, for jq.
    out = sys.stderr if args.dry_run else sys.stdout
    try:
        if args.account is None and account_names(TARGETS[args.target][0]):
            return _main_accounts(options, out)
        result = push(**options)
    except PushFailed as exc:
        print(f"push-leads: error: {exc}", file=sys.stderr)
        print(exc.result.summary())
        return 130 if exc.interrupted else 1
    except ConnectorError as exc:
        print(f"push-leads: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the push installed its handlers
        print(
            "push-leads: interrupted; run again: what was sent is not sent twice", file=sys.stderr
        )
        return 130
    print(result.summary(), file=out)
    return 3 if result.rejected else 0


def _main_accounts(options: dict[str, Any], out: TextIO) -> int:
    """Each account in turn: its summary or its one-line error as it ends; exit 1 naming the
    accounts that failed after the others pushed, else 3 if some account's rows were
    rejected."""

    def report(name: str, result: PushResult | None, reason: str | None) -> None:
        if result is not None:
            print(result.summary(), file=out, flush=True)
        else:
            print(f"push-leads: error: {name}: {reason}", file=sys.stderr, flush=True)

    options.pop("account")
    try:
        outcome = push_accounts(on_done=report, **options)
    except AccountsFailed as exc:
        print(f"push-leads: error: {exc}", file=sys.stderr)
        return 1
    return 3 if any(result.rejected for result in outcome.results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
