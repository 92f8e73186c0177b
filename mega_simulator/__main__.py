"""``python -m mega_simulator serve --port 8080 --leads 100000``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from types import FrameType

from .auth import DEFAULT_SCOPES, DEFAULT_TOKEN
from .data import DEFAULT_CUSTOMER_ID
from .server import SimulatorServer, is_loopback


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mega_simulator", description="Local MEGA Public CRM Lead API simulator."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the API until SIGINT/SIGTERM")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--leads", type=int, default=1000, help="number of generated leads")
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--host", default="127.0.0.1", help="loopback only")
    serve.add_argument("--rate-limit", type=int, default=None, help="requests per window")
    serve.add_argument("--rate-window", type=float, default=60.0, help="window in seconds")
    serve.add_argument("--latency-ms", type=float, default=0.0, help="added per API request")
    serve.add_argument(
        "--token", default=None, help="accepted bearer token (default: $MEGA_SIM_TOKEN or built-in)"
    )
    serve.add_argument("--customer-id", default=DEFAULT_CUSTOMER_ID)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not is_loopback(args.host):
        print(f"refusing to bind non-loopback host {args.host!r}", file=sys.stderr)
        return 2
    token = args.token or os.environ.get("MEGA_SIM_TOKEN") or DEFAULT_TOKEN
    tokens = {token: {"customer_id": args.customer_id, "scopes": list(DEFAULT_SCOPES)}}
    started = time.perf_counter()
    server = SimulatorServer(
        n_leads=args.leads,
        seed=args.seed,
        host=args.host,
        port=args.port,
        tokens=tokens,
        rate_limit=args.rate_limit,
        rate_window_s=args.rate_window,
        latency_ms=args.latency_ms,
    )
    source = "from --token" if args.token else "in $MEGA_SIM_TOKEN or default"
    print(
        f"MEGA simulator on {server.url} ({len(server.store)} leads, customer {args.customer_id}, "
        f"token {source}; ready in {time.perf_counter() - started:.1f}s)",
        flush=True,
    )

    def _stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() blocks until serve_forever returns, so it cannot run in this thread.
        threading.Thread(target=server._httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
