"""What a user waits for: ``mega-leads`` against dlt's rest_api (``benchmarks/peer.py``), both
as whole processes started and timed from here (start-up, the run, exit), into the same
warehouse. Per repeat, the two sides alternate (ours, peer / peer, ours); each side's series is
a backfill into an empty dataset, a run after 1% of the leads changed, one after 1 lead changed,
and one with no change. Every backfill is checked to hold each lead once, on both sides.

    python -m benchmarks.whole --warehouse postgres --leads 50000 --repeats 5

*Whole process* is the time a scheduler waits for; *inside run()* is the connector's own
summary (``in N s``), the time ``benchmarks.bench`` measures. Raw times go to ``--json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.sim import PROJECT_DIR, SimulatorProcess

RUNS = ("backfill", "1% changed", "1 lead changed", "no change")
SIDES = ("connector", "rest_api")
_INSIDE = re.compile(r" in (\d+\.\d) s; rows loaded")


class Warehouse:
    """Where one series loads: a fresh DuckDB file or a fresh PostgreSQL database each time."""

    def __init__(self, kind: str, server_url: str | None) -> None:
        self.kind = kind
        self.server_url = server_url

    def fresh(self, work: Path) -> str:
        if self.kind == "duckdb":
            return str(work / "leads.duckdb")
        from tests.helpers.accounts import fresh_database

        assert self.server_url is not None
        return fresh_database(self.server_url)

    def counts(self, credentials: str, table: str) -> tuple[int, int]:
        query = f"select count(*), count(distinct id) from {table}"
        if self.kind == "duckdb":
            import duckdb

            with duckdb.connect(credentials, read_only=True) as con:
                row = con.execute(query).fetchone()
        else:
            import psycopg2

            connection = psycopg2.connect(credentials)
            with connection.cursor() as cursor:
                cursor.execute(query)
                row = cursor.fetchone()
            connection.close()
        return (int(row[0]), int(row[1])) if row else (0, 0)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float | None]:
    """The whole process's seconds, start to exit, and the run's own figure if it printed one."""
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{cmd[2]} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    inside = _INSIDE.search(done.stdout)
    return elapsed, float(inside.group(1)) if inside else None


def commands(
    side: str, sim: SimulatorProcess, warehouse: str, credentials: str, work: Path
) -> tuple[list[str], dict[str, str], str]:
    """The command line, environment and leads table of one side."""
    from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN

    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false", "PYTHONPATH": str(PROJECT_DIR)}
    if side == "rest_api":
        cmd = [sys.executable, "-m", "benchmarks.peer", "--url", sim.url, "--token"]
        cmd += [DEFAULT_TOKEN, "--customer", DEFAULT_CUSTOMER_ID, "--destination", warehouse]
        cmd += ["--credentials", credentials, "--pipelines-dir", str(work / "peer")]
        return cmd, env, "mega_rest.leads"
    env.update(
        {
            "SOURCES__MEGA__BASE_URL": sim.url,
            "SOURCES__MEGA__API_TOKEN": DEFAULT_TOKEN,
            "SOURCES__MEGA__CUSTOMER_ID": DEFAULT_CUSTOMER_ID,
            f"DESTINATION__{warehouse.upper()}__CREDENTIALS": credentials,
            "DLT_DATA_DIR": str(work / "dlt"),
        }
    )
    cmd = [sys.executable, "-m", "pipelines.mega_leads", "-q", "--destination", warehouse]
    return cmd, env, "mega.leads"


def one_series(
    side: str, sim: SimulatorProcess, warehouse: Warehouse, leads: int, seed: int
) -> dict[str, tuple[float, float | None]]:
    work = Path(tempfile.mkdtemp(prefix=f"whole-{side}-"))
    credentials = warehouse.fresh(work)
    cmd, env, table = commands(side, sim, warehouse.kind, credentials, work)
    times = {"backfill": timed(cmd, env)}
    rows, ids = warehouse.counts(credentials, table)
    if rows != leads or ids != leads:
        raise SystemExit(f"{side}: {rows} rows, {ids} ids after the backfill; {leads} expected")
    sim.touch(leads // 100, seed)
    times["1% changed"] = timed(cmd, env)
    sim.touch(1, seed + 1000)
    times["1 lead changed"] = timed(cmd, env)
    times["no change"] = timed(cmd, env)
    return times


@contextlib.contextmanager
def server(kind: str) -> Iterator[str | None]:
    if kind == "duckdb":
        yield None
        return
    from tests.postgres import postgres_server

    with postgres_server() as url:
        yield url


def table(times: dict[str, dict[str, list[Any]]], label: str) -> list[str]:
    def median(side: str, run: str, pick: Callable[[Any], Any]) -> float | None:
        values = [pick(v) for v in times[side][run] if pick(v) is not None]
        return statistics.median(values) if values else None

    lines = [
        f"| {label} | connector, whole process s (min–max) | inside run() s | rest_api, whole "
        "process s (min–max) | connector ÷ rest_api |",
        "|---|---|---|---|---|",
    ]
    for run in RUNS:
        ours, peer = (median(s, run, lambda v: v[0]) for s in SIDES)
        inside = median("connector", run, lambda v: v[1])
        assert ours is not None and peer is not None
        span = {
            s: f"{min(v[0] for v in times[s][run]):.2f}–{max(v[0] for v in times[s][run]):.2f}"
            for s in SIDES
        }
        lines.append(
            f"| {run} | {ours:.2f} ({span['connector']}) | {inside if inside is not None else '–'} "
            f"| {peer:.2f} ({span['rest_api']}) | {ours / peer:.2f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", choices=["duckdb", "postgres"], default="postgres")
    parser.add_argument("--leads", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="write every time here")
    args = parser.parse_args(argv)
    times: dict[str, dict[str, list[Any]]] = {s: {r: [] for r in RUNS} for s in SIDES}
    with server(args.warehouse) as url, SimulatorProcess(args.leads) as sim:
        warehouse = Warehouse(args.warehouse, url)
        for repeat in range(args.repeats):
            order = SIDES if repeat % 2 == 0 else tuple(reversed(SIDES))
            for side in order:
                series = one_series(side, sim, warehouse, args.leads, seed=repeat)
                for run, measured in series.items():
                    times[side][run].append(measured)
                print(f"repeat {repeat + 1} {side}: {series}", file=sys.stderr, flush=True)
    label = f"{args.warehouse}, {args.leads:,} leads"
    print("\n".join(table(times, label)))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "times": times}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
