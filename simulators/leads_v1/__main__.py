"""``leads-v1-simulator serve --port 8080 --leads 1000``
(= ``python -m simulators.leads_v1 serve …``), in the MEGA simulator's style."""

from __future__ import annotations

import argparse
import os
import sys
import time

from simulators.core import cli
from simulators.core.http import is_loopback

from .auth import DEFAULT_TOKEN
from .schema import DEFAULT_ORGANIZATION_ID
from .server import LeadsV1Server

TOKEN_ENV = "LEADS_V1_SIM_TOKEN"


def _parser() -> argparse.ArgumentParser:
    prog = cli.command_name("leads-v1-simulator", "simulators.leads_v1")
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Local Leads v1 API simulator.",
        epilog=f"example: {prog} serve --port 8788 --leads 10000",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the API until Ctrl-C / SIGTERM")
    serve.add_argument(
        "--port", type=cli.bounded(int, 0, 65535), default=8766, help="0: any free port"
    )
    serve.add_argument(
        "--leads", type=cli.bounded(int, 0), default=1000, help="number of generated leads"
    )
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--host", default="127.0.0.1", help="loopback only")
    serve.add_argument(
        "--rate-limit", type=cli.bounded(int, 1), default=None, help="requests per window"
    )
    serve.add_argument(
        "--rate-window", type=cli.bounded(float, 0.001), default=60.0, help="window in seconds"
    )
    serve.add_argument(
        "--latency", type=cli.bounded(float, 0), default=0.0, help="seconds added per request"
    )
    serve.add_argument(
        "--token", default=None, help=f"accepted bearer token (default: ${TOKEN_ENV} or built-in)"
    )
    return parser


def _connection_lines(url: str, token: str, token_from_env: bool) -> list[str]:
    """What a user pastes to point the Leads v1 connector at this simulator. A token taken
    from the environment is referenced, not echoed: it may be one the user keeps secret."""
    token_value = f'"${TOKEN_ENV}"' if token_from_env else token
    return [
        "Point the leads_v1 source at it (POSIX shell):",
        f"  export SOURCES__LEADS_V1__BASE_URL={url}",
        f"  export SOURCES__LEADS_V1__API_TOKEN={token_value}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        print(
            f"{parser.prog}: error: refusing to bind non-loopback host {args.host!r}",
            file=sys.stderr,
        )
        return 2
    token_from_env = not args.token and bool(os.environ.get(TOKEN_ENV))
    token = args.token or os.environ.get(TOKEN_ENV) or DEFAULT_TOKEN
    started = time.perf_counter()
    try:
        server = LeadsV1Server(
            n_leads=args.leads,
            seed=args.seed,
            host=args.host,
            port=args.port,
            tokens={token: DEFAULT_ORGANIZATION_ID},
            rate_limit=args.rate_limit,
            rate_window_s=args.rate_window,
            latency_s=args.latency,
        )
    except OSError as exc:  # most often: the port is taken
        print(f"{parser.prog}: error: {cli.bind_error(args.host, args.port, exc)}", file=sys.stderr)
        return 2
    lines = [
        f"Leads v1 simulator on {server.url} ({len(server.store)} leads, organization "
        f"{DEFAULT_ORGANIZATION_ID}; ready in {time.perf_counter() - started:.1f}s; "
        "Ctrl-C stops it)",
        *_connection_lines(server.url, token, token_from_env),
    ]
    cli.serve(server, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
