"""Many accounts into one PostgreSQL: N MEGA accounts (5,000 leads each, 100 ms per request) loaded
from scratch, whole processes as a user or an orchestrator runs them:

- *one command*: ``mega-leads`` running every account in turn (one process);
- *serial processes*: ``mega-leads --account NAME`` one after another (an orchestrator with one
  worker);
- *K at once*: the same processes, K running at a time (an orchestrator's K workers).

Each case on a fresh database; wall time, requests the simulator served, and each account's
rows checked against its leads. Each account has its own rate-limit budget at the simulator.

``python -m benchmarks.accounts [--accounts 20] [--leads 5000] [--latency-ms 100]
[--concurrency 4]`` (~6 min). Raw numbers go to ``benchmarks/results-accounts.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg2

from simulators import mega
from simulators.mega import SimulatorServer
from tests.helpers import environ_without_settings
from tests.helpers.accounts import accounts_env, fresh_database

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent


def env_for(sim: SimulatorServer, names: list[str], url: str, root: Path) -> dict[str, str]:
    clean = environ_without_settings()
    return {
        **clean,
        **accounts_env(sim, names, "mega"),
        "DESTINATION__POSTGRES__CREDENTIALS": url,
        "DLT_DATA_DIR": str(root / "dlt"),
    }


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.mega_leads", "-q", "--destination", "postgres", *args]


def run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, env=env, cwd=PROJECT_DIR, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[-2:])}: exit {done.returncode}: {done.stderr[-500:]}")


def rows_per_customer(url: str) -> dict[str, int]:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT customer_id, COUNT(DISTINCT id) FROM mega.leads GROUP BY 1")
        return {str(customer): int(count) for customer, count in cursor.fetchall()}


def case(
    label: str,
    sim: SimulatorServer,
    names: list[str],
    cluster_url: str,
    root: Path,
    workers: int | None,
) -> dict[str, Any]:
    """``workers`` None: one command for every account; else one process per account, that
    many at a time."""
    url = fresh_database(cluster_url)
    env = env_for(sim, names, url, root / label)
    sim.clear_requests()
    started = time.perf_counter()
    if workers is None:
        run(command(), env)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda name: run(command("--account", name), env), names))
    wall = time.perf_counter() - started
    loaded = rows_per_customer(url)
    expected = {sim.account(name).tenant_id: len(sim.store_of(name)) for name in names}
    if loaded != expected:
        raise RuntimeError(f"{label}: rows per customer differ from the leads")
    return {
        "case": label,
        "workers": workers,
        "wall_s": round(wall, 2),
        "requests": len(sim.requests),
        "leads": sum(expected.values()),
    }


def main(argv: list[str] | None = None) -> int:
    from benchmarks import report
    from benchmarks.bench import code_version
    from tests.postgres import postgres_server

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--leads", type=int, default=5_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--json", default=str(BENCH_DIR / "results-accounts.json"))
    args = parser.parse_args(argv)

    names = [f"account_{n}" for n in range(1, args.accounts + 1)]
    accounts = [mega.account(name, args.leads, seed=n) for n, name in enumerate(names, start=1)]
    runs = []
    with (
        postgres_server() as cluster_url,
        SimulatorServer(accounts=accounts, latency_ms=args.latency_ms) as sim,
    ):
        root = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-accounts-{os.getpid()}"
        for label, workers in (
            ("one_command", None),
            ("serial_processes", 1),
            (f"at_once_{args.concurrency}", args.concurrency),
        ):
            result = case(label, sim, names, cluster_url, root, workers)
            runs.append(result)
            print(json.dumps(result), flush=True)
    data = {
        "machine": report.machine(),
        "commit": code_version()["commit"],
        "accounts": args.accounts,
        "leads_per_account": args.leads,
        "latency_ms": args.latency_ms,
        "command": "python -m benchmarks.accounts " + " ".join(argv or sys.argv[1:]),
        "runs": runs,
    }
    Path(args.json).write_text(json.dumps(data, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
