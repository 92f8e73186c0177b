"""A/B of two trees of this project, as a user waits for them: each run is the whole CLI
process (``python -m pipelines.mega_leads`` / ``pipelines.leads_v1``), start to exit, timed
from here. Per repeat and per tree, alternated (A, B, B, A, …): a backfill into a fresh DuckDB
file, a run after 1% of the leads changed, a run with no change. Every backfill is checked to
hold each lead once. ``--before`` is any git revision, exported (``git archive``) to a temporary
folder; "after" is this working tree, or ``--after``'s revision. Both use this interpreter and
its packages. ``--source push``: ``push-leads --target mega`` of ``--leads`` rows from a file
into an empty MEGA simulator with a fresh ledger, then again (nothing left to send); every
first push is checked to create each row once.

    python -m benchmarks.ab --before 4635229 --leads 100000 --repeats 5 [--source leads_v1|push]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from benchmarks.push import MAP, rows_file
from benchmarks.sim import PROJECT_DIR, SimulatorProcess
from simulators import leads_v1 as leads_v1_sim
from simulators import mega as mega_sim

RUNS = ("backfill", "1% changed", "no change")
PUSH_RUNS = ("first push", "nothing to send")
SOURCES: dict[str, dict[str, Any]] = {
    "mega": {
        "simulator": "simulators.mega",
        "cli": "pipelines.mega_leads",
        "table": "mega.leads",
        "env": lambda url: {
            "SOURCES__MEGA__BASE_URL": url,
            "SOURCES__MEGA__API_TOKEN": mega_sim.DEFAULT_TOKEN,
            "SOURCES__MEGA__CUSTOMER_ID": mega_sim.DEFAULT_CUSTOMER_ID,
        },
    },
    "leads_v1": {
        "simulator": "simulators.leads_v1",
        "cli": "pipelines.leads_v1",
        "table": "leads_v1.leads",
        "env": lambda url: {
            "SOURCES__LEADS_V1__BASE_URL": url,
            "SOURCES__LEADS_V1__API_TOKEN": leads_v1_sim.DEFAULT_TOKEN,
        },
    },
    "push": {"simulator": "simulators.mega", "cli": "pipelines.push", "runs": PUSH_RUNS},
}


def export_tree(revision: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", revision], cwd=PROJECT_DIR, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def cli_run(tree: Path, module: str, env: dict[str, str], args: list[str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", module, "-q", *(args or [])],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{module} in {tree} exited {done.returncode}: {done.stderr.strip()}")
    return elapsed


def push_series(tree: Path, sim: SimulatorProcess, rows: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="ab-push-"))
    rows_path = rows_file(work, rows, prefix=f"{work.name}-")
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "DESTINATION__MEGA__BASE_URL": sim.url,
        "DESTINATION__MEGA__API_TOKEN": mega_sim.DEFAULT_TOKEN,
        "DESTINATION__MEGA__CUSTOMER_ID": mega_sim.DEFAULT_CUSTOMER_ID,
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }
    before = sim.stats().get("leads", 0)
    args = ["--target", "mega", "--file", str(rows_path), "--key", "id", "--map", MAP]
    args += ["--duckdb-file", str(work / "ledger.duckdb")]
    times = {"first push": cli_run(tree, "pipelines.push", env, args)}
    created = sim.stats().get("leads", 0) - before
    if created != rows:
        raise SystemExit(f"{tree}: the push created {created} leads; {rows} expected")
    times["nothing to send"] = cli_run(tree, "pipelines.push", env, args)
    return times


def one_series(
    tree: Path, source: dict[str, Any], sim: SimulatorProcess, leads: int, seed: int
) -> dict[str, float]:
    if source["cli"] == "pipelines.push":
        return push_series(tree, sim, leads)
    work = Path(tempfile.mkdtemp(prefix="ab-"))
    database = work / "leads.duckdb"
    env = {
        **os.environ,
        **source["env"](sim.url),
        "PYTHONPATH": str(tree),
        "DESTINATION__DUCKDB__CREDENTIALS": str(database),
        "DLT_DATA_DIR": str(work),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }
    times = {"backfill": cli_run(tree, source["cli"], env)}
    with duckdb.connect(str(database), read_only=True) as con:
        rows, ids = con.execute(
            f"select count(*), count(distinct id) from {source['table']}"
        ).fetchone() or (0, 0)
    if rows != leads or ids != leads:
        raise SystemExit(f"{tree}: {rows} rows, {ids} ids after the backfill; {leads} expected")
    sim.touch(leads // 100, seed)
    times["1% changed"] = cli_run(tree, source["cli"], env)
    times["no change"] = cli_run(tree, source["cli"], env)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision of the 'before' tree")
    parser.add_argument("--after", default=None, help="git revision [this working tree]")
    parser.add_argument("--source", choices=sorted(SOURCES), default="mega")
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="write every time here")
    args = parser.parse_args(argv)
    source = SOURCES[args.source]
    trees = {"before": export_tree(args.before, Path(tempfile.mkdtemp(prefix="ab-tree-")))}
    trees["after"] = (
        export_tree(args.after, Path(tempfile.mkdtemp(prefix="ab-tree-")))
        if args.after
        else PROJECT_DIR
    )
    runs = source.get("runs", RUNS)
    times: dict[str, dict[str, list[float]]] = {t: {r: [] for r in runs} for t in trees}
    simulated = 0 if args.source == "push" else args.leads
    with SimulatorProcess(simulated, module=source["simulator"]) as sim:
        for repeat in range(args.repeats):
            order = list(trees) if repeat % 2 == 0 else list(reversed(trees))
            for name in order:
                series = one_series(trees[name], source, sim, args.leads, seed=repeat)
                for run, seconds in series.items():
                    times[name][run].append(round(seconds, 3))
                print(f"repeat {repeat + 1} {name}: {series}", file=sys.stderr)
    print(f"| {args.source}, {args.leads:,} leads, whole process s | before | after | ratio |")
    print("|---|---|---|---|")
    for run in runs:
        before, after = (statistics.median(times[t][run]) for t in ("before", "after"))
        print(f"| {run} | {before:.2f} | {after:.2f} | {after / before:.2f} |")
    if args.json:
        revisions = {"before": args.before, "after": args.after or "working tree"}
        Path(args.json).write_text(json.dumps({**revisions, "times": times}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
