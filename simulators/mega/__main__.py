"""``mega-simulator serve --port 8080 --leads 100000`` (= ``python -m simulators.mega serve …``).

The command line is the core's (``simulators.core.cli``); MEGA adds its server, token, customer
and the exports ``mega-leads`` reads."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from simulators.core import cli
from simulators.core.accounts import numbered

from .auth import DEFAULT_SCOPES, DEFAULT_TOKEN, account
from .data import DEFAULT_CUSTOMER_ID
from .server import SimulatorServer

TOKEN_ENV = "MEGA_SIM_TOKEN"
ENV_PREFIX = "SOURCES__MEGA__"


def _parser() -> argparse.ArgumentParser:
    parser, serve = cli.serve_parser(
        "mega-simulator",
        "simulators.mega",
        "Local MEGA Public CRM Lead API simulator.",
        port=8765,
        example_port=8787,
        token_env=TOKEN_ENV,
    )
    # The unit before every simulator took seconds: still accepted, no longer shown.
    serve.add_argument("--latency-ms", type=cli.bounded(float, 0), help=argparse.SUPPRESS)
    serve.add_argument("--customer-id", default=None, help=f"default: {DEFAULT_CUSTOMER_ID}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if cli.several_accounts(parser, args):
        if args.customer_id:
            parser.error("--customer-id and --accounts exclude each other")
        return _serve_accounts(parser, args)
    customer_id = args.customer_id or DEFAULT_CUSTOMER_ID
    token = cli.Token.choose(args.token, TOKEN_ENV, DEFAULT_TOKEN)
    tokens = {token.value: {"customer_id": customer_id, "scopes": list(DEFAULT_SCOPES)}}

    def make_server() -> SimulatorServer:
        return SimulatorServer(n_leads=args.leads, seed=args.seed, tokens=tokens, **_options(args))

    def lines(server: SimulatorServer, seconds: float) -> list[str]:
        exports = [
            (ENV_PREFIX + "BASE_URL", server.url),
            (ENV_PREFIX + "API_TOKEN", token.shown),
            (ENV_PREFIX + "CUSTOMER_ID", customer_id),
        ]
        tenant = f"customer {customer_id}"
        return cli.ready_lines(
            "MEGA simulator", server.url, len(server.store), tenant, seconds, "mega-leads", exports
        )

    return cli.run(parser, args.host, args.port, make_server, lines)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "host": args.host,
        "port": args.port,
        "rate_limit": args.rate_limit,
        "rate_window_s": args.rate_window,
        "latency_ms": args.latency * 1000 if args.latency_ms is None else args.latency_ms,
    }


def _serve_accounts(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    accounts = numbered(args.accounts, args.leads, args.seed, account)

    def make_server() -> SimulatorServer:
        return SimulatorServer(accounts=accounts, **_options(args))

    def lines(server: SimulatorServer, seconds: float) -> list[str]:
        return cli.accounts_lines("MEGA simulator", server, seconds, "mega-leads", ENV_PREFIX)

    return cli.run(parser, args.host, args.port, make_server, lines)


if __name__ == "__main__":
    sys.exit(main())
