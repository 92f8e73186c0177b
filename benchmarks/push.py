"""Push benchmark: 2,000 leads created in MEGA (its simulator in its own process, 100 ms per
request) with K = 8 requests in flight beside K = 1, and K = 8 under a rate limit, where the
`RateLimit-*` headers must pace the push without a storm of 429s.

``python -m benchmarks.push [--rows 2000] [--latency-ms 100]`` (~5 min). Raw numbers go to
``benchmarks/results-push.json``; the table replaces the block between ``<!-- PUSH -->`` and
``<!-- /PUSH -->`` of ``benchmarks/RESULTS.md`` (appended when there is none).
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks.sim import SimulatorProcess
from pipelines.push import push
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN

BENCH_DIR = Path(__file__).resolve().parent
_BLOCK = re.compile(r"<!-- PUSH -->.*?<!-- /PUSH -->\n?", re.S)
MAP = "contact_name=name,contact_email=email"


def rows_file(folder: Path, count: int, prefix: str = "") -> Path:
    """``count`` rows to push; ``prefix`` makes them rows of their own (ids and emails): MEGA
    merges a create into the lead of the same email, which a later push would not create."""
    path = folder / "rows.jsonl"
    lines = (
        orjson.dumps(
            {"id": f"{prefix}r{i}", "name": f"Bench {i}", "email": f"{prefix}bench{i}@example.com"}
        )
        for i in range(count)
    )
    path.write_bytes(b"\n".join(lines))
    return path


def run_case(name: str, rows: int, k: int, latency_ms: float, extra: list[str]) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        SimulatorProcess(0, latency_ms=latency_ms, extra_args=extra) as sim,
    ):
        folder = Path(tmp)
        started = time.perf_counter()
        result = push(
            "mega",
            file=rows_file(folder, rows),
            key="id",
            field_map=MAP,
            concurrency=k,
            duckdb_file=str(folder / "ledger.duckdb"),
            base_url=sim.url,
            api_token=DEFAULT_TOKEN,
            customer_id=DEFAULT_CUSTOMER_ID,
        )
        wall = time.perf_counter() - started
        created = sim.stats().get("leads")
    if result.created != rows or created != rows:
        raise RuntimeError(f"{name}: {result.created} created, simulator holds {created}")
    floor = rows / k * latency_ms / 1000
    record = {
        "case": name,
        "rows": rows,
        "k": k,
        "wall_s": round(wall, 2),
        "floor_s": round(floor, 2),
        "ratio": round(wall / floor, 3),
        "requests": result.requests,
        "retries": result.retries,
        "rate_limit": " ".join(extra) or "none",
    }
    print(json.dumps(record), flush=True)
    return record


def table(records: list[dict[str, Any]]) -> str:
    lines = [
        "| case | rows | K | wall s | floor (rows / K × latency) s | wall / floor | requests | "
        "retries (429s) | rate limit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {r['case']} | {r['rows']} | {r['k']} | {r['wall_s']} | {r['floor_s']} | "
            f"{r['ratio']} | {r['requests']} | {r['retries']} | {r['rate_limit']} |"
        )
    return "\n".join(lines)


def write_results(records: list[dict[str, Any]], analysis: str) -> None:
    (BENCH_DIR / "results-push.json").write_text(json.dumps(records, indent=2) + "\n")
    title = "## Push: creating leads in MEGA"
    block = f"<!-- PUSH -->\n{title}\n\n{table(records)}\n\n{analysis}\n<!-- /PUSH -->\n"
    results = BENCH_DIR / "RESULTS.md"
    text = results.read_text()
    text = _BLOCK.sub(lambda _: block, text) if _BLOCK.search(text) else text + "\n" + block
    results.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--limited-rows", type=int, default=400)
    args = parser.parse_args(argv)
    records = [
        run_case("K=8", args.rows, 8, args.latency_ms, []),
        run_case("K=1 (sequential)", args.rows, 1, args.latency_ms, []),
        # 10 requests/s: the floor is the quota, not the latency.
        run_case(
            "K=8, 100 requests / 10 s",
            args.limited_rows,
            8,
            args.latency_ms,
            ["--rate-limit", "100", "--rate-window", "10"],
        ),
    ]
    limited = records[2]
    limited["floor_s"] = round(args.limited_rows / 10, 2)
    limited["ratio"] = round(limited["wall_s"] / limited["floor_s"], 3)
    write_results(records, "_analysis: see below the table (written by hand after the run)._")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
