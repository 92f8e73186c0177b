"""One measured Postgres (or DuckDB) case, in its own interpreter; prints one ``BENCH_RESULT``
line like ``benchmarks.case``, plus what the table holds (rows, ids, '' and NULL values).

``python -m benchmarks.pg_case connector --url U --token T --customer C --postgres PG_URL
  --pipelines-dir D [--loader-file-format parquet|csv|insert_values]``
``python -m benchmarks.pg_case connector ... --duckdb FILE --pipelines-dir D``
``python -m benchmarks.pg_case rest_api ... --postgres PG_URL --pipelines-dir D``
``python -m benchmarks.pg_case expected --url U``: the custom-field counts the source holds.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks.case import MARKER, cpu_s, instrument_steps, rest_api_job  # noqa: E402
from benchmarks.memory import JobMemory  # noqa: E402

DATASET = "mega"
REST_DATASET = "mega_rest"
# The table's contents: the counts a correct load must reproduce ('' kept apart from NULL).
CHECKS = {
    "rows": 'SELECT count(*) FROM {s}."leads"',
    "distinct_ids": 'SELECT count(DISTINCT id) FROM {s}."leads"',
    "custom_fields": 'SELECT count(*) FROM {s}."leads__custom_fields"',
    "cf_empty": """SELECT count(*) FROM {s}."leads__custom_fields" WHERE value = ''""",
    "cf_null": 'SELECT count(*) FROM {s}."leads__custom_fields" WHERE value IS NULL',
    "manifest_rows": 'SELECT count(*) FROM {s}."_mega_runs"',
}


def force_loader_file_format(file_format: str) -> None:
    """The connector's lead tables load through ``file_format``, whatever its warehouse would
    pick: the runner passes ``Warehouse.run_options()`` (the manifest's zero-row stub keeps its
    own format, as in a user's run)."""
    from warehouses.base import Warehouse

    Warehouse.run_options = _forced(Warehouse.run_options, file_format)  # type: ignore[method-assign]


def _forced(run_options: Any, file_format: str) -> Any:
    @functools.wraps(run_options)
    def forced(self: Any) -> dict[str, Any]:
        return {**run_options(self), "loader_file_format": file_format}

    return forced


def connector(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    import dlt

    from pipelines.mega_leads import run

    steps, each = instrument_steps()
    if args.loader_file_format:
        force_loader_file_format(args.loader_file_format)
    import_s = time.perf_counter() - t0
    if args.postgres:
        destination: Any = dlt.destinations.postgres(args.postgres)
    else:
        os.environ["DESTINATION__DUCKDB__CREDENTIALS"] = args.duckdb
        destination = None
    t = time.perf_counter()
    result = run(
        destination=destination,
        dataset_name=DATASET,
        pipelines_dir=args.pipelines_dir,
        base_url=args.url,
        api_token=args.token,
        customer_id=args.customer,
    )
    return {
        "wall_s": time.perf_counter() - t,
        "import_s": import_s,
        "count_in": DATASET,
        "pages": result.pages,
        "requests": result.requests,
        "leads": result.leads,
        "rows_loaded": result.rows,
        "steps": steps,
        "steps_each": each,
    }


def rest_api(args: argparse.Namespace) -> dict[str, Any]:
    out = rest_api_job(args, "postgres", args.postgres, REST_DATASET)
    out["count_in"] = REST_DATASET
    return out


def table_checks(args: argparse.Namespace, dataset: str) -> dict[str, int | str]:
    """Each check's count; a table that was not made is reported, not raised."""
    wanted = CHECKS if dataset == DATASET else {k: CHECKS[k] for k in ("rows", "distinct_ids")}
    out: dict[str, int | str] = {}
    if args.postgres:
        import psycopg2

        connection: Any = psycopg2.connect(args.postgres)
        connection.autocommit = True
    else:
        import duckdb

        connection = duckdb.connect(args.duckdb, read_only=True)
    try:
        for name, sql in wanted.items():
            cursor = connection.cursor()
            try:
                cursor.execute(sql.format(s=f'"{dataset}"'))
                out[name] = int(cursor.fetchone()[0])
            except Exception as exc:  # e.g. a run that failed before making the table
                out[name] = f"error: {str(exc).splitlines()[0]}"
            finally:
                cursor.close()
    finally:
        connection.close()
    return out


def expected_counts(url: str) -> dict[str, int]:
    """What the custom-field table must hold: the simulator's values, '' and NULL apart."""
    import httpx

    leads = httpx.get(f"{url}/_sim/snapshot", timeout=300).json()
    values = [value for lead in leads for value in lead["custom_fields"].values()]
    return {
        "custom_fields": len(values),
        "cf_empty": sum(1 for value in values if value == ""),
        "cf_null": sum(1 for value in values if value is None),
    }


KINDS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "connector": connector,
    "rest_api": rest_api,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pg_case")
    parser.add_argument("kind", choices=[*sorted(KINDS), "expected"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("--customer", default="")
    parser.add_argument("--postgres", default=None, help="dlt credentials URL")
    parser.add_argument("--duckdb", default=None, help="DuckDB file (instead of --postgres)")
    parser.add_argument("--pipelines-dir", default=None)
    parser.add_argument("--loader-file-format", choices=["parquet", "csv", "insert_values"])
    args = parser.parse_args(argv)
    if args.kind == "expected":
        print(MARKER + json.dumps(expected_counts(args.url)), flush=True)
        return 0
    if bool(args.postgres) == bool(args.duckdb):
        parser.error("give exactly one of --postgres and --duckdb")
    memory = JobMemory().start()
    out = KINDS[args.kind](args)
    memory.stop()
    out["peak_rss_mb"] = memory.peak_mb()
    out["cpu_s"] = cpu_s()
    out["table"] = table_checks(args, out.pop("count_in"))
    print(MARKER + json.dumps(out, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
