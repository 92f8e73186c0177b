"""What every source's entrypoint shares: settings resolved and checked once, the common
command-line options, logging, and the exit codes (0 done, 1 failed, 2 bad settings, 130
interrupted)."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

from pipelines import accounts
from pipelines.failures import NoTracebacks, token_hint
from pipelines.registry import Source
from pipelines.result import RunFailed, RunResult
from pipelines.runner import make_pipeline
from sources.core.dlt_config import check_config, config_dir, parse_urls_without_sqlalchemy
from sources.core.errors import ConfigurationError, ConnectorError
from sources.core.pii import RulesChanged
from sources.core.settings import (
    FLAG_GROUPS,
    ConnectorSettings,
    flags,
    resolve_settings,
    setting_names,
)
from warehouses import resolve_warehouse

Spec = TypeVar("Spec", bound=ConnectorSettings)
log = logging.getLogger("crm_leads.run")


def checked_settings(spec: type[Spec], given: dict[str, Any], account: str | None = None) -> Spec:
    """A source's settings (``account``'s, one of several), given or from dlt config, resolved
    once and checked: a bad one stops the run here, before a request is sent or a file is
    made."""
    check_config()
    try:
        return resolve_settings(spec, given, account)
    except ConfigurationError as exc:
        raise located(exc) from None


def run_source(
    source: Source,
    /,  # Leads v1 has a setting named `source` (a filter)
    destination: Any = None,
    dataset_name: str | None = None,
    pipeline_name: str | None = None,
    full_refresh: bool = False,
    discard_pending: bool = False,
    pipelines_dir: str | None = None,
    table_format: str | None = None,
    account: str | None = None,
    **options: Any,
) -> RunResult:
    """One run of ``source`` (see ``pipelines.mega_leads.run``): ``options`` are its run
    options (``source.run_options``, passed to its run class) and its settings; the settings
    and the warehouse are checked before anything runs. ``account``: one of several (README:
    Many accounts), with its own pipeline (state), staging tables and manifest rows."""
    own = {name: options.pop(name) for name in source.run_options if name in options}
    config = checked_settings(source.settings, options, account)
    # Read now: dlt's lookup traces do not outlive the pipeline's run.
    token = config.origin("api_token")
    # None: the source's; an empty name is the warehouse's to refuse.
    dataset = source.dataset if dataset_name is None else dataset_name
    try:
        warehouse = resolve_warehouse(destination, dataset, table_format, account)
    except ConfigurationError as exc:
        raise located(exc) from None
    name = source.pipeline_name if pipeline_name is None else pipeline_name
    if account is not None:
        name = f"{name}__{account}"  # its own state, in the warehouse and in the working folder
    pipeline = make_pipeline(name, warehouse.destination, dataset, pipelines_dir)
    job = source.run_class(
        pipeline,
        warehouse,
        config,
        full_refresh=full_refresh,
        discard_pending=discard_pending,
        **own,
    )
    try:
        result = job.execute()
    except RunFailed as exc:
        reason = token_hint(exc, token)
        if reason != str(exc):
            raise RunFailed(reason, exc.result) from exc
        raise
    warn_if_filters_match_nothing(config, result)
    return result


def warn_if_filters_match_nothing(config: Any, result: RunResult) -> None:
    """A filtered backfill that found no lead, while the API holds some: most likely a filter
    value the API does not know (a typo), which the API answers with an empty list."""
    if result.leads or not result.filters or result.high_water_mark_before is not None:
        return
    if config.holds_any_lead():
        chosen = ", ".join(f"{name}={value!r}" for name, value in sorted(result.filters.items()))
        log.warning(
            "the filters %s match no lead, though the API holds leads: check their values",
            chosen,
        )


def source_parser(source: Source) -> argparse.ArgumentParser:
    """``source``'s command line: the common options, its own, and its settings' flags."""
    parser = argparse.ArgumentParser(prog=source.command, description=source.description)
    common_arguments(parser, source.dataset, source.pipeline_name)
    if source.cli_extras is not None:
        source.cli_extras(parser)
    setting_arguments(parser, source.settings)
    return parser


# Destinations that hand no parsed URL to SQLAlchemy (the sqlalchemy one does): dlt's own URL
# parser reads their connection strings (tests/warehouses/test_command_startup.py).
PLAIN_URL_DESTINATIONS = (None, "duckdb", "postgres")


def source_main(
    source: Source, run: Callable[..., RunResult], argv: Sequence[str] | None = None
) -> NoReturn:
    """``source``'s command: ``run`` with the options given (settings not given: dlt config);
    the process ends with its exit code."""
    given = list(sys.argv[1:] if argv is None else argv)
    args = source_parser(source).parse_args(given)
    if args.destination in PLAIN_URL_DESTINATIONS:
        parse_urls_without_sqlalchemy()
    own = {name: getattr(args, name) for name in source.run_options}
    options = common_options(args, setting_names(source.settings))

    def run_it(**account: Any) -> RunResult:
        try:
            return run(**own, **options, **account)
        except RulesChanged as exc:
            raise exc.with_command(refresh_command(source.command, given, exc.rules)) from None

    if options.pop("account") is not None:
        end_process(main_for(source.command, args, lambda: run_it(account=args.account)))
    end_process(main_for(source.command, args, run_it, source))


def refresh_command(command: str, given: Sequence[str], rules: str) -> str:
    """The command given, with a full refresh and the pii rules (set in config if not here)."""
    words = [command, *given, "--full-refresh"]
    if rules and not any(word == "--pii" or word.startswith("--pii=") for word in given):
        words += ["--pii", rules]
    return shlex.join(words)


def end_process(code: int) -> NoReturn:
    """A command's end once its run is over (what it opened is closed): the exit handlers run
    (logging's flush, dlt's telemetry), the output is flushed, and the process ends without
    the interpreter's teardown, which frees every object of a heap dlt, pyarrow and DuckDB
    filled, one by one (0.2-0.4 s on 2 cores, more than a no-change run's own work)."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe or stream: nothing more can reach it.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def located(exc: ConfigurationError) -> ConfigurationError:
    """A missing setting's message completed with the file it belongs in, in the folder read."""
    if exc.toml_file is None:
        return exc
    return ConfigurationError(f"{exc} in {config_dir() / exc.toml_file}")


def common_arguments(parser: argparse.ArgumentParser, dataset: str, pipeline_name: str) -> None:
    """The options every source's command has: where to load, and how the run behaves."""
    parser.add_argument("--destination", default=None, help="dlt destination (default: duckdb)")
    parser.add_argument(
        "--dataset", default=dataset, help=f"dataset / schema to load into (default {dataset})"
    )
    parser.add_argument(
        "--table-format",
        choices=["delta", "iceberg"],
        help="filesystem destination: the lakehouse table format (required there)",
    )
    parser.add_argument(
        "--pipeline-name",
        default=pipeline_name,
        help=f"dlt pipeline, its state and working folder (default {pipeline_name})",
    )
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="drop the lead tables and their state, then load everything again",
    )
    parser.add_argument(
        "--discard-pending",
        action="store_true",
        help="drop data an earlier run failed to load (its state reverts) instead of loading it",
    )
    parser.add_argument(
        "--account",
        metavar="NAME",
        help="run only this one of the accounts configured (README: Many accounts)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="only the summary and errors")


def setting_arguments(parser: argparse.ArgumentParser, spec: type[ConnectorSettings]) -> None:
    """An option for each setting of ``spec`` that is a command-line flag (``Flag``)."""
    groups: dict[str, Any] = {}
    columns = ", ".join(getattr(spec, "__pii_columns__", ()))
    for name, hint, flag in flags(spec):
        where: Any = parser
        if flag.group is not None:
            if flag.group not in groups:
                groups[flag.group] = parser.add_argument_group(flag.group, FLAG_GROUPS[flag.group])
            where = groups[flag.group]
        options: dict[str, Any] = {"action": "store_true", "default": None} if flag.switch else {}
        if hint is int and not flag.switch:
            options["type"] = int
        for key in ("help", "metavar", "choices"):
            if getattr(flag, key) is not None:
                options[key] = getattr(flag, key)
        if "help" in options:
            options["help"] = options["help"].format(pii_columns=columns)
        where.add_argument("--" + name.replace("_", "-"), **options)


def common_options(args: argparse.Namespace, source_settings: Sequence[str]) -> dict[str, Any]:
    """``run()``'s arguments from the options ``common_arguments`` added and the source's own
    (``None``: not given, dlt config decides)."""
    return {
        **{name: getattr(args, name, None) for name in source_settings},
        "destination": args.destination,
        "dataset_name": args.dataset,
        "pipeline_name": args.pipeline_name,
        "table_format": args.table_format,
        "full_refresh": args.full_refresh,
        "discard_pending": args.discard_pending,
        "account": args.account,
    }


def main_for(
    prog: str,
    args: argparse.Namespace,
    run: Callable[..., RunResult],
    source: Source | None = None,
) -> int:
    """Run with a source's command's logging; the summary on stdout, errors as one line.
    ``source``: run each of its accounts if several are configured."""
    _command_logging(prog, args)
    try:
        names = accounts.account_names(source.settings) if source is not None else []
        if source is not None and names:
            return _run_accounts(prog, source, run, names)
        result = run()
    except RunFailed as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C.
        return 130 if exc.result.outcome == "interrupted" else 1
    except ConnectorError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0


def _run_accounts(
    prog: str, source: Source, run: Callable[..., RunResult], names: list[str]
) -> int:
    """Each account in turn: its summary or its one-line error as it ends; exit 1 naming the
    accounts that failed, after the others ran."""

    def report(name: str, result: RunResult | None, reason: str | None) -> None:
        if result is not None:
            print(result.summary(), flush=True)
        else:
            print(f"{prog}: error: {name}: {reason}", file=sys.stderr, flush=True)

    try:
        accounts.run_accounts(source.settings, run, names, on_done=report)
    except accounts.AccountsFailed as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _command_logging(prog: str, args: argparse.Namespace) -> None:
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format=f"{prog}: %(message)s",
        stream=sys.stderr,
    )
    dlt_log = logging.getLogger("dlt")
    dlt_log.setLevel(logging.WARNING)
    dlt_log.addFilter(NoTracebacks())
    logging.getLogger("httpx").setLevel(logging.WARNING)
