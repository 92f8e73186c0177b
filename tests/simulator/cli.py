"""A simulator's command line run as the user runs it: a subprocess serving on a free
loopback port, its start-up lines, and the ``export`` lines among them."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

START_TIMEOUT_S = 15


@contextmanager
def serving(
    command: list[str], last: str, *args: str, env: dict[str, str] | None = None
) -> Iterator[list[str]]:
    """``command serve --port 0 …``: yields its start-up lines, up to the one containing
    ``last``; SIGINT stops it after, and it must exit 0."""
    proc = subprocess.Popen(
        [*command, "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**(env or os.environ), "PYTHONUNBUFFERED": "1"},
    )
    # A reader thread, so a simulator that prints less than expected fails the test, not hangs it.
    printed: queue.Queue[str] = queue.Queue()
    stdout = proc.stdout
    assert stdout is not None

    def read() -> None:
        for line in stdout:
            printed.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        lines: list[str] = []
        while not lines or last not in lines[-1]:
            try:
                lines.append(printed.get(timeout=START_TIMEOUT_S).rstrip("\n"))
            except queue.Empty:
                raise AssertionError(f"no start-up lines up to {last!r} after {lines}") from None
        yield lines
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def exports(lines: list[str]) -> dict[str, str]:
    """``NAME=value`` of each ``export`` line."""
    pairs = [line.strip().removeprefix("export ").split("=", 1) for line in lines]
    return {name: value for name, value in (p for p in pairs if len(p) == 2)}
