"""Helpers of the push tests: rows written to a file, the ledger read back, the create requests
a simulator answered, and CLI runs of ``pipelines.push``."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

from tests.helpers import PROJECT


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def ledger(path: Path, target: str | None = None) -> dict[str, dict[str, Any]]:
    """The ledger rows by row key (of one target)."""
    with duckdb.connect(str(path), read_only=True) as con:
        cursor = con.execute(
            "SELECT * FROM push._push_ledger" + (" WHERE target = ?" if target else ""),
            [target] if target else [],
        )
        names = [column[0] for column in cursor.description or []]
        return {row[2]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def writes(sim: Any, method: str = "POST") -> list[Any]:
    """The answered write requests of a simulator."""
    return [r for r in sim.requests if r.method == method]


def run_push_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.push", *args],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=180,
    )
