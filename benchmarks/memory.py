"""Peak memory of a whole job: this process plus its descendants (the connector's fetch process).

``ru_maxrss`` of children cannot be added up: a child started by (v)fork carries its parent's
resident size until it execs, and Linux keeps that as the child's peak. So the live resident
sizes of the process tree are sampled and summed at each instant (skipping children caught
before their exec); the peak is the larger of that sum and this process's own ``ru_maxrss``
(which catches spikes between samples).
"""

from __future__ import annotations

import os
import resource
import threading
from pathlib import Path

_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _rss_kb(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
        except OSError:
            continue
        found += [int(child) for child in text.split()]
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def tree_rss_kb(pid: int) -> int:
    """Resident size of ``pid`` and its descendants. A child that has not exec'd yet still
    shows its parent's memory (and command line): it is not counted twice."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += _rss_kb(current)
        parent_cmdline = _cmdline(current)
        todo += [child for child in _children(current) if _cmdline(child) != parent_cmdline]
    return total


class JobMemory:
    """Samples the resident size of this process tree every ``interval_s`` until stopped."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.peak_tree_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-memory", daemon=True)

    def start(self) -> JobMemory:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def peak_mb(self) -> float:
        own_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(max(own_kb, self.peak_tree_kb) / 1024, 1)

    def _run(self) -> None:
        pid = os.getpid()
        while not self._stop.is_set():
            self.peak_tree_kb = max(self.peak_tree_kb, tree_rss_kb(pid))
            self._stop.wait(self.interval_s)
        self.peak_tree_kb = max(self.peak_tree_kb, tree_rss_kb(pid))
