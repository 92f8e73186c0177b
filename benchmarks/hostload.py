"""CPU used by other processes on the host while a case runs (the machine may be shared)."""

from __future__ import annotations

import os
import time
from pathlib import Path

_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def host_busy_s() -> float:
    """CPU seconds all cores have spent busy since boot (0 if /proc is unavailable)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    values = [int(v) for v in fields]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / _HZ


def process_cpu_s(pid: int) -> float:
    """utime + stime of one process (its reaped children included)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    # After the ")": state is field 3, so utime/stime/cutime/cstime are indexes 11..14 here.
    return sum(int(v) for v in fields[11:15]) / _HZ


class ForeignLoad:
    """Busy CPU seconds on the host minus the given processes' own CPU time."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self._start = self._sample()

    def _sample(self) -> float:
        return host_busy_s() - sum(process_cpu_s(pid) for pid in self.pids)

    def seconds(self, minus: float = 0.0) -> float:
        """Foreign CPU seconds since construction, less ``minus`` (e.g. a child's own CPU)."""
        return max(0.0, self._sample() - self._start - minus)


def wait_until_quiet(
    pids: list[int], max_wait_s: float, threshold_cores: float = 0.3, sample_s: float = 1.0
) -> float:
    """Wait (up to ``max_wait_s``) until other processes use < ``threshold_cores`` of CPU.
    Returns the seconds waited."""
    started = time.monotonic()
    while True:
        probe = ForeignLoad(pids)
        time.sleep(sample_s)
        if probe.seconds() / sample_s < threshold_cores:
            return time.monotonic() - started
        if time.monotonic() - started >= max_wait_s:
            return time.monotonic() - started
        time.sleep(4.0)
