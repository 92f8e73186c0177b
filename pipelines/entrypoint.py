"""What every source's entrypoint shares: settings resolved and checked once, the common
command-line options, logging, and the exit codes (0 done, 1 failed, 2 bad settings, 130
interrupted)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from dlt.common.configuration.exceptions import ConfigValueCannotBeCoercedException

from pipelines.dlt_setup import check_config, config_dir
from pipelines.failures import NoTracebacks
from pipelines.result import RunFailed, RunResult
from sources.core.errors import ConfigurationError, ConnectorError

_KIND: dict[Any, str] = {int: "a whole number", float: "a number", bool: "true or false"}


def checked_source_config(
    resolve: Callable[..., Any],
    known: Sequence[str],
    setting_name: Callable[[str], str],
    source_options: dict[str, Any],
) -> Any:
    """A source's settings, given or from dlt config, resolved once by ``resolve`` and checked:
    a bad one stops the run here, before a request is sent or a file is made."""
    check_config()
    unknown = set(source_options) - set(known)
    if unknown:
        raise ConfigurationError(
            f"unknown source option(s): {', '.join(sorted(unknown))}; known: {', '.join(known)}"
        )
    options = {key: value for key, value in source_options.items() if value is not None}
    try:
        return resolve(**options)
    except ConfigValueCannotBeCoercedException as exc:
        raise ConfigurationError(
            f"{exc.field_name} must be {_KIND.get(exc.hint, 'a valid value')}, got "
            f"{exc.field_value!r} (setting {setting_name(exc.field_name)})"
        ) from None


def located(exc: ConfigurationError) -> ConfigurationError:
    """A missing setting's message completed with the file it belongs in, in the folder read."""
    if exc.toml_file is None:
        return exc
    return ConfigurationError(f"{exc} in {config_dir() / exc.toml_file}")


def common_arguments(parser: argparse.ArgumentParser, dataset: str, pipeline_name: str) -> None:
    """The options every source's command has: where to load, and how the run behaves."""
    parser.add_argument("--destination", default=None, help="dlt destination (default: duckdb)")
    parser.add_argument("--dataset", default=dataset, help="dataset / schema")
    parser.add_argument(
        "--table-format",
        choices=["delta", "iceberg"],
        help="filesystem destination: the lakehouse table format (required there)",
    )
    parser.add_argument("--pipeline-name", default=pipeline_name)
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
    parser.add_argument("--checkpoint-pages", type=int, help="commit data + state every N pages")
    parser.add_argument("-q", "--quiet", action="store_true", help="only the summary and errors")


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
    }


def main_for(prog: str, args: argparse.Namespace, run: Callable[[], RunResult]) -> int:
    """Run with a source's command's logging; the summary on stdout, errors as one line."""
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format=f"{prog}: %(message)s",
        stream=sys.stderr,
    )
    dlt_log = logging.getLogger("dlt")
    dlt_log.setLevel(logging.WARNING)
    dlt_log.addFilter(NoTracebacks())
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
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
