"""Delta and Iceberg on an S3 bucket vs on local disk, as a user waits for them: each run is the
whole CLI process (``python -m pipelines.mega_leads``), start to exit, timed from here. Per
repeat and per target (order rotated each repeat): a backfill into a fresh bucket or folder,
then a run after 1% of the leads changed. The S3 bucket is on moto's server on loopback
(tests/s3.py), so the figures show the cost of the S3 protocol and of the libraries' object-store
paths, not of a network. Every run is checked to leave each lead once.

    python -m benchmarks.object_storage [--leads 20000] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.sim import PROJECT_DIR, SimulatorProcess
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN
from tests.s3 import S3Server, s3_server
from tests.warehouse_readers import FilesystemReader
from tests.warehouses.bucket_reader import BucketReader

TARGETS = ("local delta", "s3 delta", "local iceberg", "s3 iceberg")
RUNS = ("backfill", "1% changed")


def cli_run(env: dict[str, str], table_format: str) -> float:
    command = ["-m", "pipelines.mega_leads", "-q", "--destination", "filesystem", "--table-format"]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *command, table_format],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{table_format} run exited {done.returncode}: {done.stderr.strip()}")
    return elapsed


def check_leads(reader: Any, leads: int, target: str) -> None:
    ids = [row["id"] for row in reader.rows("leads")]
    if len(ids) != leads or len(set(ids)) != leads:
        raise SystemExit(f"{target}: {len(ids)} rows, {len(set(ids))} ids; {leads} expected")


def one_series(
    target: str, sim: SimulatorProcess, s3: S3Server, leads: int, seed: int
) -> dict[str, float]:
    where, table_format = target.split()
    work = Path(tempfile.mkdtemp(prefix="objstore-"))
    env = {
        **os.environ,
        "SOURCES__MEGA__BASE_URL": sim.url,
        "SOURCES__MEGA__API_TOKEN": DEFAULT_TOKEN,
        "SOURCES__MEGA__CUSTOMER_ID": DEFAULT_CUSTOMER_ID,
        "DLT_DATA_DIR": str(work),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }
    reader: Any
    if where == "s3":
        bucket = s3.new_bucket()
        env.update(bucket.settings())
        reader = BucketReader(bucket, "mega")
    else:
        env["DESTINATION__FILESYSTEM__BUCKET_URL"] = (work / "lake").as_uri()
        reader = FilesystemReader(work / "lake", "mega")
    times = {"backfill": cli_run(env, table_format)}
    check_leads(reader, leads, target)
    sim.touch(leads // 100, seed)
    times["1% changed"] = cli_run(env, table_format)
    check_leads(reader, leads, target)
    return times


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="write every time here")
    args = parser.parse_args(argv)
    times: dict[str, dict[str, list[float]]] = {t: {r: [] for r in RUNS} for t in TARGETS}
    loads = [load_average()]
    with SimulatorProcess(args.leads) as sim, s3_server() as s3:
        for repeat in range(args.repeats):
            order = TARGETS[repeat % len(TARGETS) :] + TARGETS[: repeat % len(TARGETS)]
            for target in order:
                series = one_series(target, sim, s3, args.leads, seed=repeat)
                for run, seconds in series.items():
                    times[target][run].append(round(seconds, 3))
                print(f"repeat {repeat + 1} {target}: {series}", file=sys.stderr)
            loads.append(load_average())
    print(f"| MEGA {args.leads:,} leads, whole process s (median of {args.repeats}) | ", end="")
    print(" | ".join(TARGETS) + " |")
    print("|---" * (len(TARGETS) + 1) + "|")
    for run in RUNS:
        medians = [statistics.median(times[t][run]) for t in TARGETS]
        print(f"| {run} | " + " | ".join(f"{m:.2f}" for m in medians) + " |")
    print(f"\nload average (1, 5, 15 min) at the start and after each repeat: {loads}")
    if args.json:
        Path(args.json).write_text(json.dumps({"times": times, "load": loads}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
