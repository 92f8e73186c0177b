"""``leads-v1-simulator serve --port 8080 --leads 1000``
(= ``python -m simulators.leads_v1 serve …``).

The command line is the core's (``simulators.core.cli``); Leads v1 adds its server, token and
the exports the leads_v1 source reads."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from simulators.core import cli
from simulators.core.accounts import numbered

from .auth import DEFAULT_TOKEN, account
from .schema import DEFAULT_ORGANIZATION_ID
from .server import LeadsV1Server

TOKEN_ENV = "LEADS_V1_SIM_TOKEN"
ENV_PREFIX = "SOURCES__LEADS_V1__"


def _parser() -> argparse.ArgumentParser:
    parser, _serve = cli.serve_parser(
        "leads-v1-simulator",
        "simulators.leads_v1",
        "Local Leads v1 API simulator.",
        port=8766,
        example_port=8788,
        token_env=TOKEN_ENV,
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if cli.several_accounts(parser, args):
        return _serve_accounts(parser, args)
    token = cli.Token.choose(args.token, TOKEN_ENV, DEFAULT_TOKEN)

    def make_server() -> LeadsV1Server:
        tokens = {token.value: DEFAULT_ORGANIZATION_ID}
        return LeadsV1Server(n_leads=args.leads, seed=args.seed, tokens=tokens, **_options(args))

    def lines(server: LeadsV1Server, seconds: float) -> list[str]:
        exports = [
            (ENV_PREFIX + "BASE_URL", server.url),
            (ENV_PREFIX + "API_TOKEN", token.shown),
        ]
        tenant = f"organization {DEFAULT_ORGANIZATION_ID}"
        target = "the leads_v1 source"
        return cli.ready_lines(
            "Leads v1 simulator", server.url, len(server.store), tenant, seconds, target, exports
        )

    return cli.run(parser, args.host, args.port, make_server, lines)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "host": args.host,
        "port": args.port,
        "rate_limit": args.rate_limit,
        "rate_window_s": args.rate_window,
        "latency_s": args.latency,
    }


def _serve_accounts(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    accounts = numbered(args.accounts, args.leads, args.seed, account)

    def make_server() -> LeadsV1Server:
        return LeadsV1Server(accounts=accounts, **_options(args))

    def lines(server: LeadsV1Server, seconds: float) -> list[str]:
        target = "the leads_v1 source"
        return cli.accounts_lines("Leads v1 simulator", server, seconds, target, ENV_PREFIX)

    return cli.run(parser, args.host, args.port, make_server, lines)


if __name__ == "__main__":
    sys.exit(main())
