"""``apollo-simulator serve --port 8768`` (= ``python -m simulators.apollo serve …``).

The command line is the core's (``simulators.core.cli``); Apollo adds its server, its token
and the exports the apollo destination reads. The CRM starts empty (``--leads N`` adds N
existing leads first). ``--token`` (or ``$APOLLO_SIM_TOKEN``) must be a JWT the simulator
signed, e.g. ``python -c "from simulators.apollo import *; print(issue_token([...], ...))"``;
any such token is accepted, the chosen one is the one printed.
"""

from __future__ import annotations

import argparse
import sys

from simulators.core import cli
from simulators.core.accounts import Account, numbered
from simulators.core.clock import SystemClock

from .data import seed_leads
from .schema import DEFAULT_ORGANIZATION_ID
from .server import ApolloServer
from .store import ApolloStore
from .tokens import DEFAULT_TOKEN, Claims, InvalidToken, account, decode_token

TOKEN_ENV = "APOLLO_SIM_TOKEN"
ENV_PREFIX = "DESTINATION__APOLLO__"


def _parser() -> argparse.ArgumentParser:
    parser, serve = cli.serve_parser(
        "apollo-simulator",
        "simulators.apollo",
        "Local Apollo Space API simulator (POST /v1/leads).",
        port=8768,
        example_port=8790,
        token_env=TOKEN_ENV,
    )
    # A CRM the connector writes to: empty unless asked for existing leads.
    serve.set_defaults(leads=0)
    return parser


def _organization(claims: Claims, store: ApolloStore) -> str:
    """The organization to print: the default one, else the token's first with pipelines."""
    if DEFAULT_ORGANIZATION_ID in claims.organization_ids:
        return DEFAULT_ORGANIZATION_ID
    known = sorted(org for org in claims.organization_ids if store.pipelines(org))
    return known[0] if known else DEFAULT_ORGANIZATION_ID


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    accounts: list[Account] | None = None
    if cli.several_accounts(parser, args):
        # Each account's organization starts empty: --leads adds leads to the default one only.
        accounts = numbered(args.accounts, 0, 0, lambda name, _leads, _seed: account(name))
    token = cli.Token.choose(args.token, TOKEN_ENV, DEFAULT_TOKEN)
    try:
        claims = decode_token(token.value)
    except InvalidToken as exc:  # never echo the token: it may come from the environment
        print(
            f"{parser.prog}: error: the token is not one the simulator signed ({exc})",
            file=sys.stderr,
        )
        return 2

    def make_server() -> ApolloServer:
        store = ApolloStore(SystemClock())
        seed_leads(store, args.leads, args.seed)
        return ApolloServer(
            host=args.host,
            port=args.port,
            rate_limit=args.rate_limit,
            rate_window_s=args.rate_window,
            latency_s=args.latency,
            store=store,
            accounts=accounts,
        )

    def lines(server: ApolloServer, seconds: float) -> list[str]:
        if accounts is not None:
            target = "the apollo destination"
            return cli.accounts_lines("Apollo simulator", server, seconds, target, ENV_PREFIX)
        org = _organization(claims, server.store)
        pipeline = server.store.pipelines(org)[0]["id"]
        exports = [
            (ENV_PREFIX + "BASE_URL", server.url),
            (ENV_PREFIX + "API_TOKEN", token.shown),
            (ENV_PREFIX + "ORGANIZATION_ID", org),
            (ENV_PREFIX + "PIPELINE_ID", pipeline),
        ]
        return cli.ready_lines(
            "Apollo simulator",
            server.url,
            len(server.store.leads(org)),
            f"organization {org}",
            seconds,
            "the apollo destination",
            exports,
        )

    return cli.run(parser, args.host, args.port, make_server, lines)


if __name__ == "__main__":
    sys.exit(main())
