"""``leads-v1-simulator serve --port 8080 --leads 1000``
(= ``python -m simulators.leads_v1 serve …``).

The command line is the core's (``simulators.core.cli``); Leads v1 adds its server, token and
the exports the leads_v1 source reads."""

from __future__ import annotations

import argparse
import sys

from simulators.core import cli

from .auth import DEFAULT_TOKEN
from .schema import DEFAULT_ORGANIZATION_ID
from .server import LeadsV1Server

TOKEN_ENV = "LEADS_V1_SIM_TOKEN"


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
    token = cli.Token.choose(args.token, TOKEN_ENV, DEFAULT_TOKEN)

    def make_server() -> LeadsV1Server:
        return LeadsV1Server(
            n_leads=args.leads,
            seed=args.seed,
            host=args.host,
            port=args.port,
            tokens={token.value: DEFAULT_ORGANIZATION_ID},
            rate_limit=args.rate_limit,
            rate_window_s=args.rate_window,
            latency_s=args.latency,
        )

    def lines(server: LeadsV1Server, seconds: float) -> list[str]:
        exports = [
            ("SOURCES__LEADS_V1__BASE_URL", server.url),
            ("SOURCES__LEADS_V1__API_TOKEN", token.shown),
        ]
        tenant = f"organization {DEFAULT_ORGANIZATION_ID}"
        target = "the leads_v1 source"
        return cli.ready_lines(
            "Leads v1 simulator", server.url, len(server.store), tenant, seconds, target, exports
        )

    return cli.run(parser, args.host, args.port, make_server, lines)


if __name__ == "__main__":
    sys.exit(main())
