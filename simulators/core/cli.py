"""Pieces of a simulator's command line: number arguments, the command the user typed, a
one-line bind error, and serving until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

from .server import ServerCore


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
