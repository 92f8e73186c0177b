"""Ctrl-C and SIGTERM as a stop flag: a run (a sweep, a push) stops at its next page or request
boundary, commits what it has and exits 130, instead of a KeyboardInterrupt raised wherever the
main thread happens to be (inside dlt, DuckDB, a ledger write)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[bool]:
    """While the run executes, Ctrl-C and SIGTERM set ``stop`` instead of raising inside dlt
    (which would leave a half-written package); a second one ends the process at once. Yields
    whether the handlers were installed: signals reach only the main thread, and a run in
    another thread (an orchestrator's) leaves the process's handlers alone."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    received = 0

    def handler(signum: int, frame: object) -> None:
        nonlocal received
        received += 1
        stop.set()
        if received > 1:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)
    try:
        with _stop_at_once(stop):
            yield True
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


@contextmanager
def _stop_at_once(stop: threading.Event) -> Iterator[None]:
    """Sets ``stop`` as soon as a signal arrives. The handler above runs only when the main
    thread next executes Python, which a long call into DuckDB or dlt delays while the fetching
    threads go on starting requests; the signal's wakeup byte wakes this thread at once."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    old_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def watch() -> None:
        with contextlib.suppress(OSError):
            while os.read(read_end, 64):
                stop.set()

    watcher = threading.Thread(target=watch, name="signal-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(old_fd)
        os.close(write_end)  # the watcher reads the end of the pipe and returns
        watcher.join(timeout=5)
        os.close(read_end)
