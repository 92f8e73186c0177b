"""Benchmark: floor (httpx + JSON) vs this connector vs dlt's generic rest_api source.

``python -m benchmarks.bench --quick`` is a < 1 minute smoke test; ``python -m benchmarks.bench``
is the full run that writes ``benchmarks/RESULTS.md`` and ``benchmarks/results.json``.
Every case runs in its own interpreter (``benchmarks/case.py``) against a simulator process.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.case import MARKER
from benchmarks.hostload import ForeignLoad, wait_until_quiet
from benchmarks.sim import PROJECT_DIR, SimulatorProcess

BENCH_DIR = Path(__file__).resolve().parent

# name -> (extra env, checkpoint_pages, what it changes); the baseline is the plain connector.
VARIANTS: dict[str, tuple[dict[str, str], int | None, str]] = {
    "default": ({}, None, "the connector's defaults, run alongside the variants"),
    "inprocess": (
        {"SOURCES__MEGA__FETCH_PROCESS_MIN_LEADS": "0"},
        None,
        "pages fetched by a thread of the run's process, not by a child process",
    ),
    "dlt_checkpoint": (
        {"DESTINATION__DUCKDB__CHECKPOINT_THRESHOLD": "1GB"},
        None,
        "DuckDB checkpoints when a load's last connection closes (dlt's 1 GB threshold)",
    ),
    "prefetch0": ({"SOURCES__MEGA__PREFETCH_PAGES": "0"}, None, "no prefetch thread"),
    "prefetch2": ({"SOURCES__MEGA__PREFETCH_PAGES": "2"}, None, "2 pages fetched ahead"),
    "ckpt100": ({}, 100, "a checkpoint (dlt load) every 100 pages"),
    "normalize2": ({"NORMALIZE__WORKERS": "2"}, None, "NORMALIZE__WORKERS=2"),
    "parallel2": ({"SOURCES__MEGA__WORKERS": "2"}, None, "backfill with 2 parallel range workers"),
    "parallel4": ({"SOURCES__MEGA__WORKERS": "4"}, None, "backfill with 4 parallel range workers"),
}


def connector_defaults() -> dict[str, Any]:
    """The connector's tunables as MEGA's settings spec declares their defaults now."""
    from sources.mega.config import MegaSettings

    wanted = (
        "checkpoint_pages",
        "checkpoint_seconds",
        "prefetch_pages",
        "fetch_process_min_leads",
        "workers",
    )
    defaults = MegaSettings()
    return {name: getattr(defaults, name) for name in wanted}


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="mega-bench-"))
        self.log = self.work / "cases.log"
        self.runs: list[dict[str, Any]] = []
        from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN

        self.token, self.customer = DEFAULT_TOKEN, DEFAULT_CUSTOMER_ID
        self.started = time.time()
        self.notes: list[str] = []
        self.code = code_version()

    # ----- plumbing -------------------------------------------------------------------------

    def say(self, message: str) -> None:
        elapsed = time.time() - self.started
        print(f"[{elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)

    def case(
        self,
        sim: SimulatorProcess,
        section: str,
        name: str,
        kind: str,
        repeat: int,
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        cmd = [sys.executable, "-m", "benchmarks.case", kind, "--url", sim.url]
        cmd += ["--token", self.token, "--customer", self.customer, *(extra or [])]
        record: dict[str, Any] = {"section": section, "case": name, "repeat": repeat}
        record["code"] = code_version(git=False)["connector_files_sha256"]
        record["leads_at_source"] = sim.leads
        if env:
            record["env"] = env
        ours = [os.getpid(), sim.pid]
        if self.args.wait_quiet:
            record["waited_for_quiet_s"] = round(wait_until_quiet(ours, self.args.wait_quiet), 1)
        run_case(
            cmd,
            sim,
            record,
            self.log,
            header=f"{section} {name} #{repeat}: {' '.join(cmd[3:5])}",
            timeout=timeout or self.args.case_timeout,
            env=env,
        )
        self.runs.append(record)
        self.say(f"{section:>22} {name:<22} #{repeat}: {brief(record)}")
        self.save()
        return record

    def fresh(self, label: str) -> tuple[str, str]:
        folder = self.work / label
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return str(folder / "bench.duckdb"), str(folder / "pipelines")

    def save(self) -> None:
        data = {
            "machine": report.machine(),
            "code": self.code,
            "connector_defaults": connector_defaults(),
            "command": self.args.command_line,
            "settings": {k: v for k, v in vars(self.args).items() if k != "command_line"},
            "notes": self.notes,
            "runs": self.runs,
        }
        Path(self.args.json).write_text(json.dumps(data, indent=1, default=str))

    def check(self, record: dict[str, Any], expected: int) -> None:
        table = record.get("table") or {}
        ok = table.get("rows") == expected and table.get("distinct_ids") == expected
        record["verified"] = ok
        if not ok and "error" not in record:
            record["error"] = f"expected {expected} leads in the table, found {table}"

    # ----- scenarios ------------------------------------------------------------------------

    def size_block(self, size: int, block: int) -> None:
        section = f"{size:,} leads"
        log_path = self.work / f"sim-{size}.log"
        with SimulatorProcess(size, seed=block, log_path=log_path) as sim:
            self.say(f"simulator with {size:,} leads ready in {sim.ready_s:.1f} s at {sim.url}")
            touch_n = max(1, size // 100)
            for r in range(self.args.repeats):
                floor = self.case(sim, section, "floor", "floor", r)
                self.case(sim, section, "floor_stdlib_json", "floor", r, ["--decoder", "json"])
                db, pdir = self.fresh(f"c{size}-{r}")
                paths = ["--duckdb", db, "--pipelines-dir", pdir]
                self.check(self.case(sim, section, "connector", "connector", r, paths), size)
                sim.touch(touch_n, seed=1000 * block + r)
                since = ["--updated-since", str(floor.get("last_updated_at"))]
                self.case(sim, section, "floor_incremental", "floor", r, since)
                self.case(sim, section, "connector_incremental", "connector", r, paths)
                # One lead changed: a run's fixed cost when it loads (one merge), against which
                # the 1% run's cost beyond it is what grows with the changes.
                sim.touch(1, seed=1000 * block + 100 + r)
                self.case(sim, section, "connector_incremental_1", "connector", r, paths)
                self.case(sim, section, "connector_nochange", "connector", r, paths)
                shutil.rmtree(Path(db).parent, ignore_errors=True)
            if size <= self.args.skip_rest_api_above:
                self.rest_api(sim, section, size, block)
            else:
                self.notes.append(
                    f"rest_api skipped at {size:,} leads (--skip-rest-api-above "
                    f"{self.args.skip_rest_api_above:,})"
                )
            if size == self.variant_size():
                self.variants(sim, size)

    def rest_api(self, sim: SimulatorProcess, section: str, size: int, block: int) -> None:
        for r in range(self.args.rest_api_repeats or self.args.repeats):
            db, pdir = self.fresh(f"r{size}-{r}")
            paths = ["--duckdb", db, "--pipelines-dir", pdir]
            backfill = self.case(sim, section, "rest_api", "rest_api", r, paths)
            self.check(backfill, size)
            if "error" in backfill:
                self.notes.append(f"rest_api at {size:,}: {backfill['error']}")
                shutil.rmtree(Path(db).parent, ignore_errors=True)
                return
            sim.touch(max(1, size // 100), seed=1000 * block + 500 + r)
            self.case(sim, section, "rest_api_incremental", "rest_api", r, paths)
            self.case(sim, section, "rest_api_nochange", "rest_api", r, paths)
            shutil.rmtree(Path(db).parent, ignore_errors=True)

    def variant_size(self) -> int:
        return self.args.variant_size or min(self.args.sizes)

    def variants(self, sim: SimulatorProcess, size: int) -> None:
        section = f"variants, {size:,} leads"
        names = [v for v in self.args.variants.split(",") if v and v != "none"]
        for r in range(self.args.repeats):
            for name in names:
                env, checkpoint, _ = VARIANTS[name]
                db, pdir = self.fresh(f"v{name}-{r}")
                extra = ["--duckdb", db, "--pipelines-dir", pdir]
                if checkpoint:
                    extra += ["--checkpoint-pages", str(checkpoint)]
                self.check(self.case(sim, section, name, "connector", r, extra, env), size)
                shutil.rmtree(Path(db).parent, ignore_errors=True)

    def latency_block(self, size: int) -> None:
        ms = self.args.latency_ms
        section = f"latency {ms:g} ms, {size:,} leads"
        with SimulatorProcess(
            size, seed=7, latency_ms=ms, log_path=self.work / "sim-lat.log"
        ) as sim:
            self.say(f"simulator with {size:,} leads, +{ms:g} ms per request, at {sim.url}")
            cases: list[tuple[str, str, dict[str, str]]] = [
                ("floor", "floor", {}),
                ("connector", "connector", {}),
                ("connector_prefetch0", "connector", {"SOURCES__MEGA__PREFETCH_PAGES": "0"}),
                ("connector_parallel4", "connector", {"SOURCES__MEGA__WORKERS": "4"}),
            ]
            for r in range(self.args.repeats):
                for name, kind, env in cases:
                    extra: list[str] = []
                    if kind == "connector":
                        db, pdir = self.fresh(f"l{name}-{r}")
                        extra = ["--duckdb", db, "--pipelines-dir", pdir]
                    record = self.case(sim, section, name, kind, r, extra, env)
                    record["latency_ms"] = ms
                    if kind == "connector":
                        self.check(record, size)
                        shutil.rmtree(Path(extra[1]).parent, ignore_errors=True)

    def run(self) -> None:
        try:
            for block, size in enumerate(self.args.sizes):
                self.size_block(size, block)
            for size in self.args.latency_sizes:
                self.latency_block(size)
        finally:
            after = code_version()
            if after["connector_files_sha256"] != self.code["connector_files_sha256"]:
                self.notes.append(
                    "the connector's files changed while the benchmark ran "
                    f"(sha256 {self.code['connector_files_sha256']} → "
                    f"{after['connector_files_sha256']}): later cases measured newer code"
                )
            self.save()
        report.write(Path(self.args.json), Path(self.args.out))
        self.say(f"wrote {self.args.out} and {self.args.json} (logs in {self.work})")


def code_version(git: bool = True) -> dict[str, str]:
    """The commit, and a hash of the connector's files as they are now (they may be edited)."""
    digest = hashlib.sha256()
    files = sorted([*PROJECT_DIR.glob("sources/**/*.py"), *PROJECT_DIR.glob("pipelines/**/*.py")])
    for path in files:
        digest.update(path.relative_to(PROJECT_DIR).as_posix().encode() + path.read_bytes())
    if not git:
        return {"connector_files_sha256": digest.hexdigest()[:16]}
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "sources", "pipelines"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head, dirty = "?", ""
    return {
        "commit": head,
        "connector_files_sha256": digest.hexdigest()[:16],
        "uncommitted_changes": "yes" if dirty else "no",
    }


def run_case(
    cmd: list[str],
    sim: SimulatorProcess,
    record: dict[str, Any],
    log_path: Path,
    header: str,
    timeout: float,
    env: dict[str, str] | None = None,
) -> None:
    """Run one case's child (``cmd``, stderr appended to ``log_path`` under ``header``) and add
    to ``record`` its ``BENCH_RESULT`` numbers, the whole-process time, the requests ``sim``
    served meanwhile and the CPU other processes used (``foreign_cpu_s``), or an ``error``."""
    before = sim.requests_served()
    load = ForeignLoad([os.getpid(), sim.pid])
    started = time.perf_counter()
    with open(log_path, "a") as log:
        log.write(f"\n===== {header}\n")
        log.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=PROJECT_DIR,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # its own process group, so a timeout kills its workers
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            out = ""
            record["error"] = f"timeout after {timeout:.0f} s (killed)"
    record["process_s"] = time.perf_counter() - started
    record["sim_requests"] = sim.requests_served() - before
    lines = [line for line in out.splitlines() if line.startswith(MARKER)]
    if lines:
        record.update(json.loads(lines[-1][len(MARKER) :]))
    elif "error" not in record:
        record["error"] = f"exit code {proc.returncode}, no result (see {log_path})"
    # CPU seconds other processes on the host used meanwhile: > 0 means a noisy run.
    record["foreign_cpu_s"] = round(load.seconds(minus=float(record.get("cpu_s", 0.0))), 2)


def brief(record: dict[str, Any]) -> str:
    if "error" in record:
        return f"ERROR {record['error']}"
    wall, rss = record.get("wall_s", 0.0), record.get("peak_rss_mb", 0.0)
    return (
        f"wall {wall:.2f} s (process {record['process_s']:.2f} s), {record.get('leads')} leads, "
        f"{record['sim_requests']} requests, peak RSS {rss:.0f} MB, "
        f"other processes {record.get('foreign_cpu_s', 0):.1f} CPU s"
    )


def int_list(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__)
    parser.add_argument("--sizes", type=int_list, default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rest-api-repeats", type=int, default=None, help="default: --repeats")
    parser.add_argument("--latency-sizes", type=int_list, default=[20_000])
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--skip-rest-api-above", type=int, default=100_000)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma list or 'none'")
    parser.add_argument("--variant-size", type=int, default=None, help="default: smallest size")
    parser.add_argument("--case-timeout", type=float, default=600.0, help="seconds per case")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=20.0,
        help="before each case, wait up to this many seconds for other processes to go idle "
        "(0: don't)",
    )
    parser.add_argument("--out", default=str(BENCH_DIR / "RESULTS.md"))
    parser.add_argument("--json", default=None, help="raw numbers (default: next to --out)")
    parser.add_argument("--report-only", action="store_true", help="re-render --out from --json")
    parser.add_argument("--quick", action="store_true", help="tiny smoke test (< 1 minute)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats, args.latency_sizes = [5_000], 1, [1_000]
        args.skip_rest_api_above = 5_000
        args.variants = "default,prefetch0"
        args.wait_quiet = 0.0
        if args.out == str(BENCH_DIR / "RESULTS.md"):
            args.out = str(Path(tempfile.gettempdir()) / "mega-bench-quick.md")
    if args.json is None:
        out = Path(args.out)
        args.json = str(out.with_suffix(".json") if args.quick else out.with_name("results.json"))
    args.command_line = "python -m benchmarks.bench " + " ".join(argv or sys.argv[1:])
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_only:
        report.write(Path(args.json), Path(args.out))
        return 0
    Bench(args).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
