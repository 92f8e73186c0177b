"""Another process holding a test's DuckDB file, as a BI tool or a second run would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LOCKER = (
    "import sys, time, duckdb\n"
    "try:\n"
    "    con = duckdb.connect(sys.argv[1])\n"
    "except duckdb.IOException:\n"
    "    print('refused', flush=True)\n"
    "    sys.exit(0)\n"
    "print('locked', flush=True)\n"
    "time.sleep(300)\n"
)


class FileLocker:
    """Another process holding the DuckDB file open (DuckDB allows one writer process)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.proc: subprocess.Popen[str] | None = None
        self.outcomes: list[str] = []

    def try_acquire(self) -> bool:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(self.path)], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.outcomes.append(self.proc.stdout.readline().strip())
        return self.outcomes[-1] == "locked"

    def acquire(self) -> None:
        assert self.try_acquire(), self.outcomes

    def release(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
