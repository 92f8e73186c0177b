"""A bounded, stoppable queue from fetching threads to the sweep."""

from __future__ import annotations

import contextlib
import queue
import threading

from sources.core.errors import Interrupted


class Handoff:
    """A bounded queue from fetching threads to the consumer, which can be stopped: producers
    then give up instead of blocking on a full queue forever. ``interrupt`` (the run's Ctrl-C
    flag) makes the consumer raise ``Interrupted`` instead of taking or waiting for an item:
    with fetching ahead, the queue is rarely empty."""

    def __init__(self, size: int, interrupt: threading.Event | None = None) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(size, 1))
        self._stop = threading.Event()
        self._interrupt = interrupt

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self) -> object:
        if self._interrupt is None:
            return self._queue.get()
        # Polled: a signal handler can set the flag but cannot wake a blocked queue.
        while not self._interrupt.is_set():
            try:
                return self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
        raise Interrupted("interrupted while waiting for a page")

    def ready(self) -> bool:
        return not self._queue.empty()

    def stop(self, threads: list[threading.Thread]) -> None:
        self._stop.set()
        for thread in threads:
            while thread.is_alive():
                with contextlib.suppress(queue.Empty):
                    self._queue.get(timeout=0.05)
