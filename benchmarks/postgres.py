"""Postgres benchmark: this connector (one case per load path) against dlt's rest_api source,
both into the same throwaway Postgres server, and the connector's DuckDB backfill for scale.

``python -m benchmarks.postgres`` (~8 min on 2 cores) runs, per repeat: each load path's 100k
backfill then a 1% incremental, each into a database of its own; the DuckDB backfill and 1%
incremental; rest_api's backfill and 1% incremental. Raw numbers go to
``benchmarks/results-postgres.json``; the tables replace the block between ``<!-- POSTGRES -->``
and ``<!-- /POSTGRES -->`` of ``benchmarks/RESULTS.md`` (appended when there is none).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.bench import run_case
from benchmarks.case import MARKER
from benchmarks.sim import PROJECT_DIR, SimulatorProcess

BENCH_DIR = Path(__file__).resolve().parent
PATHS = ("parquet", "csv", "insert_values")
_BLOCK = re.compile(r"<!-- POSTGRES -->.*?<!-- /POSTGRES -->\n?", re.S)
_ANALYSIS_OPEN, _ANALYSIS_CLOSE = "<!-- POSTGRES ANALYSIS -->", "<!-- /POSTGRES ANALYSIS -->"
_KEPT = re.compile(f"{_ANALYSIS_OPEN}.*?{_ANALYSIS_CLOSE}", re.S)


class PostgresBench:
    def __init__(self, args: argparse.Namespace, server_url: str, sim: SimulatorProcess) -> None:
        from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN

        self.args, self.sim = args, sim
        self.server_url = server_url.rsplit("/", 1)[0]  # without the database
        self.auth = ["--token", DEFAULT_TOKEN, "--customer", DEFAULT_CUSTOMER_ID]
        self.work = Path(tempfile.mkdtemp(prefix="mega-pg-bench-"))
        self.log = self.work / "cases.log"
        self.runs: list[dict[str, Any]] = []
        self._expected: tuple[Any, dict[str, int]] = (None, {})
        self.started = time.time()

    def say(self, message: str) -> None:
        print(f"[{time.time() - self.started:7.1f}s] {message}", file=sys.stderr, flush=True)

    def database(self, name: str) -> str:
        """A new, empty database on the server: every backfill starts from nothing."""
        import psycopg2

        connection = psycopg2.connect(f"{self.server_url}/postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
            cursor.execute(f"CREATE DATABASE {name}")
        connection.close()
        return f"{self.server_url}/{name}"

    def case(self, name: str, kind: str, repeat: int, extra: list[str]) -> dict[str, Any]:
        cmd = [sys.executable, "-m", "benchmarks.pg_case", kind, "--url", self.sim.url]
        cmd += [*self.auth, *extra]
        record: dict[str, Any] = {"case": name, "repeat": repeat}
        # foreign_cpu_s includes the Postgres server's CPU: it runs outside the case's tree.
        run_case(cmd, self.sim, record, self.log, f"{name} #{repeat}", self.args.case_timeout)
        self.check(record)
        self.runs.append(record)
        self.say(f"{name:<28} #{repeat}: {brief(record)}")
        return record

    def expected(self) -> dict[str, int]:
        """Custom-field counts as the simulator holds them now (cached until it changes).
        Counted by a child: a 100k-lead snapshot in this process would be inherited as every
        later case's peak RSS (a forked child starts with its parent's resident size)."""
        version = self.sim.stats()["version"]
        if self._expected[0] != version:
            cmd = [sys.executable, "-m", "benchmarks.pg_case", "expected", "--url", self.sim.url]
            out = subprocess.run(
                cmd, cwd=PROJECT_DIR, capture_output=True, text=True, check=True, timeout=300
            ).stdout
            self._expected = (version, json.loads(out.splitlines()[-1][len(MARKER) :]))
        return self._expected[1]

    def check(self, record: dict[str, Any]) -> None:
        """Every lead once; for the connector, '' and NULL values as the source has them."""
        if "error" in record:
            return
        table = record.get("table") or {}
        if table.get("rows") != self.sim.leads or table.get("distinct_ids") != self.sim.leads:
            record["error"] = f"expected {self.sim.leads} leads in the table, found {table}"
        if "cf_empty" in table:
            expected = self.expected()
            record["expected"] = expected
            record["values_ok"] = all(table.get(k) == v for k, v in expected.items())

    def pair(self, name: str, kind: str, repeat: int, target: list[str]) -> None:
        """A backfill, then a 1% incremental into the same place."""
        pdir = self.work / f"{name}-{repeat}"
        shutil.rmtree(pdir, ignore_errors=True)
        extra = [*target, "--pipelines-dir", str(pdir)]
        backfill = self.case(name, kind, repeat, extra)
        if "error" not in backfill:
            self.sim.touch(max(1, self.sim.leads // 100), seed=len(self.runs))
            self.case(f"{name}_incremental", kind, repeat, extra)
        shutil.rmtree(pdir, ignore_errors=True)

    def run(self) -> None:
        paths = [p for p in self.args.paths.split(",") if p]
        for r in range(self.args.repeats):
            for path in paths:
                target = ["--postgres", self.database(f"c_{path}_{r}")]
                self.pair(
                    f"connector_{path}", "connector", r, [*target, "--loader-file-format", path]
                )
            if not self.args.no_duckdb:
                db = self.work / f"duckdb-{r}" / "bench.duckdb"
                db.parent.mkdir(parents=True, exist_ok=True)
                self.pair("connector_duckdb", "connector", r, ["--duckdb", str(db)])
                shutil.rmtree(db.parent, ignore_errors=True)
            if r < self.args.rest_api_repeats:
                self.pair("rest_api", "rest_api", r, ["--postgres", self.database(f"rest_{r}")])


def brief(record: dict[str, Any]) -> str:
    if "error" in record:
        return f"ERROR {record['error']}"
    steps = record.get("steps") or {}
    table = record.get("table") or {}
    return (
        f"wall {record.get('wall_s', 0):.2f} s, load {steps.get('load', 0):.2f} s, "
        f"{record['sim_requests']} requests, RSS {record.get('peak_rss_mb', 0):.0f} MB, "
        f"'' {table.get('cf_empty', '-')} NULL {table.get('cf_null', '-')} "
        f"(source {record.get('expected', {}).get('cf_empty', '-')}), "
        f"other CPU {record.get('foreign_cpu_s', 0):.1f} s"
    )


def _med(runs: list[dict[str, Any]], get: Any) -> float | None:
    values = []
    for run in runs:
        try:
            values.append(float(get(run)))
        except (KeyError, TypeError, ValueError):
            continue
    return report.median(values)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def case_rows(runs: list[dict[str, Any]]) -> tuple[list[str], dict[str, dict[str, float | None]]]:
    names = list(dict.fromkeys(run["case"] for run in runs))
    lines = [
        "| case | ok | wall s (min–max) | process s | extract s | normalize s | load s "
        "| peak RSS MB | custom fields | `''` | NULL | values as at source |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    medians: dict[str, dict[str, float | None]] = {}
    for name in names:
        every = [run for run in runs if run["case"] == name]
        ok = [run for run in every if "error" not in run]
        walls = [float(run["wall_s"]) for run in ok]
        med = {
            "wall": _med(ok, lambda r: r["wall_s"]),
            "load": _med(ok, lambda r: r["steps"]["load"]),
        }
        medians[name] = med
        span = f" ({min(walls):.2f}–{max(walls):.2f})" if len(walls) > 1 else ""
        step = [_fmt(_med(ok, lambda r, s=s: r["steps"][s])) for s in report.STEPS]
        table = [
            _fmt(_med(ok, lambda r, k=k: r["table"][k]), 0)
            for k in ("custom_fields", "cf_empty", "cf_null")
        ]
        lines.append(
            f"| {name} | {len(ok)}/{len(every)} | {_fmt(med['wall'])}{span} "
            f"| {_fmt(_med(ok, lambda r: r['process_s']))} | {' | '.join(step)} "
            f"| {_fmt(_med(ok, lambda r: r['peak_rss_mb']), 0)} | {' | '.join(table)} "
            f"| {values_ok(ok)} |"
        )
    return lines, medians


def values_ok(runs: list[dict[str, Any]]) -> str:
    checked = [run["values_ok"] for run in runs if "values_ok" in run]
    return f"{sum(checked)}/{len(checked)} runs" if checked else "–"


def ratio_lines(medians: dict[str, dict[str, float | None]], chosen: str) -> list[str]:
    def ratio(top: str, bottom: str) -> str:
        a = medians.get(top, {}).get("wall")
        b = medians.get(bottom, {}).get("wall")
        return f"{a / b:.2f}×" if a and b else "not measured"

    ours = f"connector_{chosen}"
    return [
        f"- rest_api ÷ connector ({chosen}), backfill walls: {ratio('rest_api', ours)} "
        "(target ≥ 3×)",
        f"- rest_api ÷ connector ({chosen}), 1% incremental walls: "
        f"{ratio('rest_api_incremental', ours + '_incremental')}",
        f"- connector Postgres ({chosen}) ÷ DuckDB, backfill walls: "
        f"{ratio(ours, 'connector_duckdb')} (target ≤ 2×)",
    ]


def render(data: dict[str, Any], chosen: str, analysis: str = "") -> str:
    lines, medians = case_rows(data["runs"])
    errors = [f"- {r['case']} #{r['repeat']}: {r['error']}" for r in data["runs"] if "error" in r]
    machine = data["machine"]
    return "\n".join(
        [
            "<!-- POSTGRES -->",
            "## Postgres (`python -m benchmarks.postgres`; rendered, the analysis below is not)",
            "",
            f"{data['leads']:,} leads; {data['repeats']} repeats, medians; PostgreSQL "
            f"{data['postgres_version']} on loopback (fsync off); {machine['cores']} cores, "
            f"dlt {machine['dlt']}; commit {data['commit']}. The connector's load path is "
            "forced per case (`connector_<path>`); the warehouse's own choice is "
            f"`{chosen}`. `''` / NULL: custom-field values stored as '' / as NULL.",
            "",
            *lines,
            "",
            *ratio_lines(medians, chosen),
            *(["", "Errors:", *errors] if errors else []),
            "",
            analysis or f"{_ANALYSIS_OPEN}\n(hand-written; kept on re-render)\n{_ANALYSIS_CLOSE}",
            "<!-- /POSTGRES -->",
            "",
        ]
    )


def write_markdown(json_path: Path, md_path: Path) -> None:
    data = json.loads(json_path.read_text())
    text = md_path.read_text() if md_path.exists() else ""
    kept = _KEPT.search(text)
    block = render(data, chosen_path(), kept.group(0) if kept else "")
    text = (
        _BLOCK.sub(lambda _: block, text) if _BLOCK.search(text) else text.rstrip() + "\n\n" + block
    )
    md_path.write_text(text)


def chosen_path() -> str:
    from warehouses.postgres import PostgresWarehouse

    return PostgresWarehouse.loader_file_format or "insert_values"


def server_version(url: str) -> str:
    import psycopg2

    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return str(cursor.fetchone()[0])
    finally:
        connection.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.postgres", description=__doc__)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rest-api-repeats", type=int, default=None, help="default: --repeats")
    parser.add_argument("--paths", default=",".join(PATHS), help="load paths to compare")
    parser.add_argument("--no-duckdb", action="store_true", help="skip the DuckDB cases")
    parser.add_argument("--case-timeout", type=float, default=600.0)
    parser.add_argument("--out", default=str(BENCH_DIR / "RESULTS.md"))
    parser.add_argument("--json", default=str(BENCH_DIR / "results-postgres.json"))
    parser.add_argument("--report-only", action="store_true", help="re-render --out from --json")
    args = parser.parse_args(argv)
    if args.rest_api_repeats is None:
        args.rest_api_repeats = args.repeats
    return args


def main(argv: list[str] | None = None) -> int:
    from benchmarks.bench import code_version
    from tests.postgres import postgres_server

    args = parse_args(argv)
    if not args.report_only:
        with postgres_server() as url, SimulatorProcess(args.leads, seed=0) as sim:
            bench = PostgresBench(args, url, sim)
            bench.say(f"Postgres at {bench.server_url}, simulator ({args.leads:,}) at {sim.url}")
            try:
                bench.run()
            finally:
                data = {
                    "machine": report.machine(),
                    "commit": code_version()["commit"],
                    "postgres_version": server_version(url),
                    "leads": args.leads,
                    "repeats": args.repeats,
                    "command": "python -m benchmarks.postgres " + " ".join(argv or sys.argv[1:]),
                    "runs": bench.runs,
                }
                Path(args.json).write_text(json.dumps(data, indent=1, default=str))
    write_markdown(Path(args.json), Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
