"""One measured case, in its own fresh interpreter; prints one ``BENCH_RESULT {json}`` line.

``python -m benchmarks.case floor --url U --token T --customer C [--decoder json]``
``python -m benchmarks.case connector --url U ... --duckdb F --pipelines-dir D``
``python -m benchmarks.case rest_api --url U ... --duckdb F --pipelines-dir D``

``wall_s`` is measured inside the child around the work only; ``import_s`` is the time the
child spent importing what the work needs (dlt, pyarrow, duckdb …). Peak RSS is the job's:
the larger of this process's ``ru_maxrss`` and its process tree sampled every 50 ms
(``benchmarks/memory.py``), taken before the bench's own check of the loaded rows.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import cProfile  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks.memory import JobMemory  # noqa: E402
from benchmarks.peer import LEADS_PATH, LIST_PARAMS, peer_pipeline, rest_api_config  # noqa: E402

MARKER = "BENCH_RESULT "


def cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return round(own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime, 3)


def peak_rss_mb() -> float:
    """This process's own peak, after each dlt step (the job's, with the fetch process, is
    ``JobMemory``'s)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def floor(args: argparse.Namespace) -> dict[str, Any]:
    """The same pages as the connector, fetched with one httpx client and decoded; no load."""
    t0 = time.perf_counter()
    import httpx

    loads: Callable[[bytes], Any]
    if args.decoder == "orjson":
        import orjson

        loads = orjson.loads
    else:
        loads = json.loads
    import_s = time.perf_counter() - t0
    headers = {"Authorization": f"Bearer {args.token}", "x-customer-id": args.customer}
    pages = leads = nbytes = 0
    last_updated: str | None = None
    decode_s = 0.0
    t = time.perf_counter()
    with httpx.Client(base_url=args.url, headers=headers, timeout=60.0) as client:
        cursor: str | None = None
        while True:
            params = dict(LIST_PARAMS)
            if cursor is not None:
                params["cursor"] = cursor
            elif args.updated_since:
                params["updated_since"] = args.updated_since
            response = client.get(LEADS_PATH, params=params)
            response.raise_for_status()
            d0 = time.perf_counter()
            body = loads(response.content)
            decode_s += time.perf_counter() - d0
            pages += 1
            nbytes += len(response.content)
            leads += len(body["leads"])
            if body["leads"]:
                last_updated = body["leads"][-1]["updated_at"]
            cursor = body["next_cursor"]
            if cursor is None:
                break
    return {
        "wall_s": time.perf_counter() - t,
        "import_s": import_s,
        "pages": pages,
        "requests": pages,
        "leads": leads,
        "bytes": nbytes,
        "decode_s": decode_s,
        "last_updated_at": last_updated,
    }


def instrument_steps() -> tuple[dict[str, float], dict[str, Any]]:
    """Sum (and list) the time every ``pipeline.run`` spends in extract / normalize / load."""
    from dlt.pipeline.pipeline import Pipeline

    steps = {"extract": 0.0, "normalize": 0.0, "load": 0.0, "runs": 0.0}
    each: dict[str, Any] = {"extract": [], "normalize": [], "load": []}
    jobs: dict[str, float] = {}
    each["peak_rss_after"] = []  # (step, peak RSS MB so far): which step raised the peak

    def timed(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(self: Any, *a: Any, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                result = method(self, *a, **k)
                if name == "load":
                    add_job_times(jobs, result)
                return result
            finally:
                took = time.perf_counter() - started
                steps[name] += took
                each[name].append(round(took, 3))
                each["peak_rss_after"].append((name, peak_rss_mb()))
                if name == "extract":
                    steps["runs"] += 1

        return wrapper

    for name in ("extract", "normalize", "load"):
        setattr(Pipeline, name, timed(name, getattr(Pipeline, name)))
    each["jobs"] = jobs
    return steps, each


def add_job_times(jobs: dict[str, float], info: Any) -> None:
    """Seconds per load job kind, ``<table>:<file type>`` (parquet = copy, sql = merge)."""
    for metrics in getattr(info, "metrics", {}).values():
        for step in metrics:
            for job in step.get("job_metrics", {}).values():
                kind = f"{job.table_name}:{job.job_id.rsplit('.', 1)[-1]}"
                if job.job_id.endswith(".gz"):
                    kind = f"{job.table_name}:{job.job_id.split('.')[-2]}"
                took = (job.finished_at - job.started_at).total_seconds()
                jobs[kind] = round(jobs.get(kind, 0.0) + took, 3)


def table_counts(path: str, dataset: str, table: str) -> dict[str, int]:
    import duckdb

    with duckdb.connect(path, read_only=True) as con:
        row = con.execute(
            f'SELECT count(*), count(DISTINCT id) FROM "{dataset}"."{table}"'
        ).fetchone()
    assert row is not None
    return {"rows": int(row[0]), "distinct_ids": int(row[1])}


def connector(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()

    from pipelines.mega_leads import run
    from warehouses import resolve_warehouse

    steps, each = instrument_steps()
    import_s = time.perf_counter() - t0
    options: dict[str, Any] = {}
    if args.checkpoint_pages:
        options["checkpoint_pages"] = args.checkpoint_pages
    # DuckDB as the CLI and the demo get it: the connector's defaults (a 128 MB buffer pool).
    os.environ["DESTINATION__DUCKDB__CREDENTIALS"] = args.duckdb
    if args.duckdb_memory_limit:
        os.environ["DESTINATION__DUCKDB__MEMORY_LIMIT"] = args.duckdb_memory_limit
    t = time.perf_counter()
    result = run(
        destination=resolve_warehouse(None, "mega").destination,
        dataset_name="mega",
        pipelines_dir=args.pipelines_dir,
        base_url=args.url,
        api_token=args.token,
        customer_id=args.customer,
        **options,
    )
    wall = time.perf_counter() - t
    return {
        "wall_s": wall,
        "import_s": import_s,
        "count_table": (args.duckdb, "mega", "leads"),
        "pages": result.pages,
        "requests": result.requests,
        "retries": result.retries,
        "leads": result.leads,
        "checkpoints": result.checkpoints,
        "rows_loaded": result.rows,
        "duration_s": result.duration_s,
        "high_water_mark": result.high_water_mark_after,
        "steps": steps,
        "steps_each": each,
    }


def rest_api_job(
    args: argparse.Namespace, destination: str, credentials: str, dataset: str
) -> dict[str, Any]:
    """dlt's rest_api source (``rest_api_config``) run once into ``dlt.destinations.<destination>
    (credentials)``: its wall and import time, leads and rows per table, dlt step times."""
    t0 = time.perf_counter()
    from dlt.sources.rest_api import rest_api_source

    steps, each = instrument_steps()
    import_s = time.perf_counter() - t0
    t = time.perf_counter()
    pipeline = peer_pipeline(destination, credentials, dataset, args.pipelines_dir)
    pipeline.run(rest_api_source(rest_api_config(args.url, args.token, args.customer)))  # type: ignore[arg-type]
    wall = time.perf_counter() - t
    trace = pipeline.last_trace
    normalize = trace.last_normalize_info if trace else None
    rows = dict(normalize.row_counts) if normalize else {}
    return {
        "wall_s": wall,
        "import_s": import_s,
        "leads": int(rows.get("leads", 0)),
        "rows_loaded": rows,
        "steps": steps,
        "steps_each": each,
    }


def rest_api(args: argparse.Namespace) -> dict[str, Any]:
    out = rest_api_job(args, "duckdb", args.duckdb, "mega_rest")
    out["count_table"] = (args.duckdb, "mega_rest", "leads")
    return out


KINDS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "floor": floor,
    "connector": connector,
    "rest_api": rest_api,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.case")
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--customer", required=True)
    parser.add_argument("--decoder", choices=["orjson", "json"], default="orjson")
    parser.add_argument("--updated-since", default=None)
    parser.add_argument("--duckdb", default=None)
    parser.add_argument("--pipelines-dir", default=None)
    parser.add_argument("--checkpoint-pages", type=int, default=None)
    parser.add_argument("--duckdb-memory-limit", default=None, help="e.g. 256MB (experiments)")
    parser.add_argument("--profile", default=None, help="write cProfile stats to this file")
    parser.add_argument("--sample", default=None, help="write an all-threads wall-clock profile")
    parser.add_argument("--switch-interval", type=float, default=None, help="sys.setswitchinterval")
    args = parser.parse_args(argv)
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    work = KINDS[args.kind]
    memory = JobMemory().start()
    if args.sample:
        from benchmarks.sampler import Sampler

        sampler = Sampler().start()
        try:
            out = work(args)
        finally:
            sampler.stop()
            sampler.write(args.sample)
    elif args.profile:
        profiler = cProfile.Profile()
        out = profiler.runcall(work, args)
        profiler.dump_stats(args.profile)
    else:
        out = work(args)
    memory.stop()
    out["peak_rss_mb"] = memory.peak_mb()
    out["cpu_s"] = cpu_s()
    # The check that the job loaded each lead once (a distinct count over every id) comes after
    # the job's peak and CPU are taken: it is the bench's work, and at 1M it needs more memory
    # than a no-change run.
    counted = out.pop("count_table", None)
    if counted is not None:
        try:
            out["table"] = table_counts(*counted)
        except Exception as exc:  # a first run that loaded nothing has no table
            out["table"] = {"error": str(exc)}
    print(MARKER + json.dumps(out, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
