"""A simulator's command line: ``<command> serve`` with the options every simulator takes,
the accepted token, the start-up lines (a banner and the exports to paste), a one-line bind
error, and serving until Ctrl-C / SIGTERM. An API's ``__main__`` adds only what is its own."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TypeVar

from .http import is_loopback
from .server import ServerCore

_S = TypeVar("_S", bound=ServerCore)


def command_name(script: str, module: str) -> str:
    """The command the user typed: the console script ``script``, or ``python -m module``
    (argv[0] is then the path of the ``__main__`` file)."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return script if name.startswith(script) else f"python -m {module}"


def bounded(
    kind: type[int] | type[float], low: float, high: float | None = None
) -> Callable[[str], float]:
    """An argparse type: a number of ``kind`` in [low, high]; argparse prints the message."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < low or (high is not None and value > high):
            upper = f" and at most {high:g}" if high is not None else ""
            raise argparse.ArgumentTypeError(f"{text} must be at least {low:g}{upper}")
        return value

    return parse


def serve_parser(
    script: str,
    module: str,
    description: str,
    *,
    port: int,
    example_port: int,
    token_env: str,
) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The parser and its ``serve`` subparser with the shared options (``--latency`` in seconds,
    the one unit of every simulator). An API adds its own options to the subparser after these."""
    prog = command_name(script, module)
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=f"example: {prog} serve --port {example_port} --leads 10000",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the API until Ctrl-C / SIGTERM")
    serve.add_argument("--port", type=bounded(int, 0, 65535), default=port, help="0: any free port")
    serve.add_argument(
        "--leads", type=bounded(int, 0), default=1000, help="number of generated leads"
    )
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--host", default="127.0.0.1", help="loopback only")
    serve.add_argument(
        "--rate-limit", type=bounded(int, 1), default=None, help="requests per window"
    )
    serve.add_argument(
        "--rate-window", type=bounded(float, 0.001), default=60.0, help="window in seconds"
    )
    serve.add_argument(
        "--latency", type=bounded(float, 0), default=0.0, help="seconds added per API request"
    )
    serve.add_argument(
        "--token", default=None, help=f"accepted bearer token (default: ${token_env} or built-in)"
    )
    serve.add_argument(
        "--accounts",
        type=bounded(int, 1, 1000),
        default=None,
        metavar="N",
        help="serve N accounts (account-1 …), each with its own token, tenant, leads and "
        "rate-limit budget, and print each one's settings",
    )
    return parser, serve


def several_accounts(parser: argparse.ArgumentParser, args: argparse.Namespace) -> bool:
    """Whether ``--accounts`` was given; with ``--token`` too, argparse's usage error (exit 2):
    each account has its own token."""
    if args.accounts is not None and args.token:
        parser.error("--token and --accounts exclude each other: each account has its own token")
    return args.accounts is not None


@dataclass(frozen=True)
class Token:
    """The accepted bearer token: ``--token``, else ``$env``, else the built-in default."""

    value: str
    env: str
    from_env: bool

    @classmethod
    def choose(cls, given: str | None, env: str, default: str) -> Token:
        from_env = not given and bool(os.environ.get(env))
        return cls(given or os.environ.get(env) or default, env, from_env)

    @property
    def shown(self) -> str:
        """The token in a printed export: one from the environment is referenced, not echoed,
        as the user may keep it secret."""
        return f'"${self.env}"' if self.from_env else self.value


def ready_lines(
    title: str,
    url: str,
    leads: int,
    tenant: str,
    seconds: float,
    target: str,
    exports: Sequence[tuple[str, str]],
) -> list[str]:
    """What a started simulator prints: where it serves, then what a user pastes (POSIX
    shell) to point ``target`` at it."""
    return [
        f"{title} on {url} ({leads} leads, {tenant}; ready in {seconds:.1f}s; Ctrl-C stops it)",
        f"Point {target} at it (POSIX shell):",
        *(f"  export {name}={value}" for name, value in exports),
    ]


def accounts_lines(
    title: str, server: ServerCore, seconds: float, target: str, env_prefix: str
) -> list[str]:
    """What a simulator started with ``--accounts`` prints: where it serves, then per account
    what a user pastes to point ``target`` at it (each setting as ``<env_prefix><NAME>``)."""
    accounts = server.accounts
    leads = {account.n_leads for account in accounts}
    each = f"{leads.pop()} leads each" if len(leads) == 1 else "leads per account"
    lines = [
        f"{title} on {server.url} ({len(accounts)} accounts, {each}; ready in {seconds:.1f}s;"
        " Ctrl-C stops it)",
        f"Point {target} at an account (POSIX shell):",
    ]
    for account in accounts:
        lines.append(f"  # {account.name}")
        settings = server.account_settings(account.name)
        lines += [f"  export {env_prefix}{key.upper()}={value}" for key, value in settings.items()]
    return lines


def run(
    parser: argparse.ArgumentParser,
    host: str,
    port: int,
    make_server: Callable[[], _S],
    lines: Callable[[_S, float], list[str]],
) -> int:
    """Refuse a non-loopback host, start ``make_server()`` (a bind error is one line), print
    ``lines(server, seconds it took)`` and serve until stopped; the exit status."""
    if not is_loopback(host):
        print(f"{parser.prog}: error: refusing to bind non-loopback host {host!r}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        server = make_server()
    except OSError as exc:  # most often: the port is taken
        print(f"{parser.prog}: error: {bind_error(host, port, exc)}", file=sys.stderr)
        return 2
    serve(server, lines(server, time.perf_counter() - started))
    return 0


def bind_error(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use; pick another with --port (0: any free port)"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def serve(server: ServerCore, ready_lines: list[str]) -> None:
    """Print ``ready_lines`` and serve in this thread until SIGINT / SIGTERM; always stops."""

    def _stop(signum: int, frame: FrameType | None) -> None:
        server.request_shutdown()

    # Handlers first: whoever reads the ready lines may stop the simulator right away.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print("\n".join(ready_lines), flush=True)
    try:
        server.serve_forever()
    finally:
        server.stop()
