"""Leads v1 detail requests: the connector's backfill with K details in flight against the
floor ``(list pages + details / K) × latency``, beside the sequential figures.

``python -m benchmarks.leads_v1 [--leads 10000] [--latency 0.1] [--repeats 1]`` (~22 min). Each
case has a simulator process of its own: ``connector_k8`` (backfill, ``detail_concurrency=8``,
fresh DuckDB file), ``connector_k8_nochange`` (a second run on it), ``connector_k8_incremental``
(``POST /_sim/touch`` of 1% of the leads, then a run) with nothing else of the bench running, so
their walls are clean; then ``connector_k1`` and dlt's ``rest_api`` (one detail at a time),
which barely use a CPU, side by side (~17 min each). Raw numbers: ``results-leads-v1.json``; the
table replaces the ``<!-- LEADS_V1 -->`` block of RESULTS.md (appended when there is none),
keeping its hand-written analysis; the console log: ``history/leads-v1-<date>.log``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.case import MARKER
from benchmarks.leads_v1_report import brief, write_markdown
from benchmarks.sim import SimulatorProcess

BENCH_DIR = Path(__file__).resolve().parent
DATASET = "leads_v1"
# Where the connector (and the child below) read the simulator's address and token: passed in
# the environment, so the token is on no command line and in no log.
URL_ENV, TOKEN_ENV = "SOURCES__LEADS_V1__BASE_URL", "SOURCES__LEADS_V1__API_TOKEN"


# ----- the measured child: ``python -m benchmarks.leads_v1 case connector|rest_api …``


def connector_job(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.case import instrument_steps

    os.environ["DESTINATION__DUCKDB__CREDENTIALS"] = args.duckdb
    from pipelines.leads_v1 import run

    steps, _ = instrument_steps()
    t = time.perf_counter()
    result = run(pipelines_dir=args.pipelines_dir, detail_concurrency=args.k)
    wall = time.perf_counter() - t
    return {
        "wall_s": wall,
        "outcome": result.outcome,
        "list_requests": result.pages,
        "detail_requests": result.details,
        "client_requests": result.requests,
        "retries": result.retries,
        "checkpoints": result.checkpoints,
        "steps": steps,
        "count_table": (args.duckdb, DATASET, "leads"),
    }


def rest_api_config(url: str, token: str, counts: Counter[str]) -> dict[str, Any]:
    """What a user would write with dlt's rest_api: the list as a parent resource (not loaded
    itself), each listed id resolved into one detail request, merged on ``id``."""

    def counter(kind: str) -> Any:
        return lambda response, *args, **kwargs: counts.update([kind])  # one per response

    return {
        "client": {"base_url": url, "auth": {"type": "bearer", "token": token}},
        "resources": [
            {
                "name": "lead_list",
                "selected": False,
                "endpoint": {
                    "path": "api/v1/leads",
                    "params": {"limit": 200},
                    "paginator": {
                        "type": "cursor",
                        "cursor_path": "next_cursor",
                        "cursor_param": "cursor",
                    },
                    "data_selector": "data",
                    "response_actions": [counter("list")],
                },
            },
            {
                "name": "leads",
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {
                    "path": "api/v1/leads/{resources.lead_list.id}",
                    "paginator": "single_page",
                    "data_selector": "$",  # the record itself, not a list found inside it
                    "response_actions": [counter("detail")],
                },
            },
        ],
    }


def rest_api_job(args: argparse.Namespace) -> dict[str, Any]:
    import dlt
    from dlt.sources.rest_api import rest_api_source

    from benchmarks.case import instrument_steps

    steps, _ = instrument_steps()
    counts: Counter[str] = Counter()
    config = rest_api_config(os.environ[URL_ENV], os.environ[TOKEN_ENV], counts)
    t = time.perf_counter()
    pipeline = dlt.pipeline(
        pipeline_name="leads_v1_rest_bench",
        destination=dlt.destinations.duckdb(args.duckdb),
        dataset_name=f"{DATASET}_rest",
        pipelines_dir=args.pipelines_dir,
    )
    pipeline.run(rest_api_source(config))  # type: ignore[arg-type]
    wall = time.perf_counter() - t
    return {
        "wall_s": wall,
        "outcome": "success",
        "list_requests": counts["list"],
        "detail_requests": counts["detail"],
        "steps": steps,
        "count_table": (args.duckdb, f"{DATASET}_rest", "leads"),
    }


def child_main(args: argparse.Namespace) -> int:
    from benchmarks.case import cpu_s, table_counts
    from benchmarks.memory import JobMemory

    memory = JobMemory().start()
    out = connector_job(args) if args.kind == "connector" else rest_api_job(args)
    memory.stop()
    out["peak_rss_mb"], out["cpu_s"] = memory.peak_mb(), cpu_s()
    out["table"] = table_counts(*out.pop("count_table"))  # after the job's peak and CPU
    print(MARKER + json.dumps(out, default=str), flush=True)
    return 0


# ----- the parent: simulators, cases, report


class LeadsV1Bench:
    def __init__(self, args: argparse.Namespace, log_path: Path) -> None:
        self.args, self.log_path = args, log_path
        self.work = Path(tempfile.mkdtemp(prefix="leads-v1-bench-"))
        self.runs: list[dict[str, Any]] = []
        self.started = time.time()
        self._lock = threading.Lock()
        self._running: dict[str, set[str]] = {}  # case -> the cases that overlapped it

    def say(self, message: str) -> None:
        line = f"[{time.time() - self.started:7.1f}s] {message}"
        with self._lock:
            print(line, file=sys.stderr, flush=True)
            with open(self.log_path, "a") as log:
                log.write(line + "\n")

    def simulator(self, name: str) -> SimulatorProcess:
        args = self.args
        return SimulatorProcess(
            args.leads,
            seed=0,
            log_path=self.work / f"sim-{name}.log",
            module="simulators.leads_v1",
            extra_args=["--latency", str(args.latency)],
        )

    def case(
        self, name: str, kind: str, k: int, sim: SimulatorProcess, db: Path, repeat: int
    ) -> dict[str, Any]:
        from benchmarks.bench import run_case
        from simulators.leads_v1 import DEFAULT_TOKEN

        cmd = [sys.executable, "-m", "benchmarks.leads_v1", "case", kind, "--k", str(k)]
        cmd += ["--duckdb", str(db), "--pipelines-dir", str(db.parent / "pipelines")]
        record: dict[str, Any] = {"case": name, "kind": kind, "k": k, "repeat": repeat}
        with self._lock:
            for beside in self._running.values():
                beside.add(name)
            self._running[name] = set(self._running)
        record["start_s"] = round(time.time() - self.started, 1)
        env = {URL_ENV: sim.url, TOKEN_ENV: DEFAULT_TOKEN}
        log = self.work / f"{name}-{repeat}.log"
        try:
            run_case(cmd, sim, record, log, f"{name} #{repeat}", self.args.case_timeout, env)
        finally:
            with self._lock:
                # The cases running when this one started or started while it ran.
                record["overlapped_with"] = sorted(self._running.pop(name))
        self.check(record)
        self.runs.append(record)
        self.say(f"{name:<26} #{repeat}: {brief(record)}")
        return record

    def check(self, record: dict[str, Any]) -> None:
        """Every case must leave each lead once in its table; the floor and its ratio."""
        if "error" not in record:
            table = record.get("table") or {}
            want = self.args.leads
            if table.get("rows") != want or table.get("distinct_ids") != want:
                record["error"] = f"expected {want} leads in the table, found {table}"
            elif record.get("outcome") != "success":
                record["error"] = f"outcome {record.get('outcome')}"
        lists, details = record.get("list_requests"), record.get("detail_requests")
        if isinstance(lists, int) and isinstance(details, int):
            record["floor_s"] = (lists + details / record["k"]) * self.args.latency
            if record["floor_s"] and "wall_s" in record:
                record["ratio"] = record["wall_s"] / record["floor_s"]

    def k8_series(self, repeat: int) -> None:
        """K=8 backfill, no-change run, 1% change + incremental, with nothing else running."""
        from benchmarks.hostload import wait_until_quiet

        db = self.work / f"k8-{repeat}" / "leads.duckdb"
        db.parent.mkdir(parents=True)
        with self.simulator(f"k8-{repeat}") as sim:
            waited = wait_until_quiet([os.getpid(), sim.pid], self.args.wait_quiet)
            self.say(f"simulator ({self.args.leads:,} leads) ready; waited {waited:.0f} s")
            if "error" in self.case("connector_k8", "connector", 8, sim, db, repeat):
                return
            self.case("connector_k8_nochange", "connector", 8, sim, db, repeat)
            touched = sim.touch(max(1, self.args.leads // 100), seed=1)
            self.say(f"touched {touched} leads")
            self.case("connector_k8_incremental", "connector", 8, sim, db, repeat)
        shutil.rmtree(db.parent, ignore_errors=True)

    def sequential_pair(self, repeat: int) -> None:
        """K=1 and rest_api side by side: both sleep on the latency nearly all the time."""
        errors: list[BaseException] = []

        def one(name: str, kind: str) -> None:
            db = self.work / f"{name}-{repeat}" / "leads.duckdb"
            db.parent.mkdir(parents=True)
            try:
                with self.simulator(f"{name}-{repeat}") as sim:
                    self.case(name, kind, 1, sim, db, repeat)
            except BaseException as exc:  # reported by the caller, not lost in the thread
                errors.append(exc)
            shutil.rmtree(db.parent, ignore_errors=True)

        pair = (("connector_k1", "connector"), ("rest_api", "rest_api"))
        threads = [threading.Thread(target=one, args=case) for case in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.leads_v1", description=__doc__)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip-sequential", action="store_true", help="K=8 cases only")
    parser.add_argument("--case-timeout", type=float, default=3600.0)
    parser.add_argument("--wait-quiet", type=float, default=20.0, help="before the K=8 cases")
    parser.add_argument("--out", default=str(BENCH_DIR / "RESULTS.md"))
    parser.add_argument("--json", default=str(BENCH_DIR / "results-leads-v1.json"))
    parser.add_argument("--log", default=None, help="default: history/leads-v1-<date>.log")
    parser.add_argument("--report-only", action="store_true", help="re-render --out from --json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["case"]:
        child = argparse.ArgumentParser(prog="python -m benchmarks.leads_v1 case")
        child.add_argument("kind", choices=["connector", "rest_api"])
        child.add_argument("--k", type=int, default=8)
        child.add_argument("--duckdb", required=True)
        child.add_argument("--pipelines-dir", required=True)
        return child_main(child.parse_args(argv[1:]))
    args = parse_args(argv)
    if args.report_only:
        write_markdown(Path(args.json), Path(args.out))
        return 0
    from benchmarks.bench import code_version
    from benchmarks.report import machine

    log = Path(args.log or BENCH_DIR / "history" / f"leads-v1-{date.today().isoformat()}.log")
    bench = LeadsV1Bench(args, log)
    command = "python -m benchmarks.leads_v1 " + " ".join(argv)
    bench.say(f"{command.strip()} — child logs in {bench.work}")
    data: dict[str, Any] = {"machine": machine(), "code": code_version(), "command": command}
    data.update(leads=args.leads, latency=args.latency, repeats=args.repeats, runs=bench.runs)
    try:
        for repeat in range(args.repeats):
            bench.k8_series(repeat)
            if not args.skip_sequential:
                bench.sequential_pair(repeat)
    finally:
        Path(args.json).write_text(json.dumps(data, indent=1, default=str))
        write_markdown(Path(args.json), Path(args.out))
    failed = [r for r in bench.runs if "error" in r]
    for record in failed:
        bench.say(f"FAILED {record['case']} #{record['repeat']}: {record['error']}")
    if not failed:
        shutil.rmtree(bench.work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
