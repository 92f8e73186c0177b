"""The BI models after a run: builds the dbt package (``dbt_package/``, README "Model it with
dbt") through dlt's dbt runner, which hands the run's destination credentials to dbt. The SQL
is the package's alone (``current_leads``, ``lead_custom_fields_wide``, ``leads_by_day`` and the
staging models); this module holds none.

``python -m pipelines.views [--source mega] [--destination postgres]`` after a run, with the
run's settings; needs the ``dbt`` extra (``pip install -e ".[dbt]"``). Models go to the schema
``crm_leads`` (``--schema``); a failed model or dbt test fails it (exit 1) with dbt's reason.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sources.core.dlt_config import configure_dlt

configure_dlt()

from pipelines.registry import SOURCES as REGISTERED  # noqa: E402
from pipelines.runner import make_pipeline  # noqa: E402
from sources.core.errors import ConfigurationError  # noqa: E402
from warehouses import resolve_warehouse  # noqa: E402

PACKAGE = Path(__file__).resolve().parents[1] / "dbt_package"
# source -> its pipeline's name (the dataset is the source's name unless --dataset says).
SOURCES = {name: source.pipeline_name for name, source in REGISTERED.items()}
SCHEMA = "crm_leads"


def build_models(
    pipeline: Any,
    sources: Sequence[str] = tuple(SOURCES),
    schema: str = SCHEMA,
    datasets: dict[str, str] | None = None,
    venv: Any = None,
) -> list[Any]:
    """``dbt run`` then ``dbt test`` of the package on ``pipeline``'s destination: the results
    (dlt's ``DBTNodeResult``); raises dlt's ``DBTProcessingError`` on a failed model or test.
    ``sources``: those the warehouse holds; ``datasets``: a source loaded under another dataset
    name; ``venv``: a dlt ``Venv`` with dbt (default: this environment)."""
    from dlt.common.runners import Venv
    from dlt.helpers.dbt import create_runner

    with pipeline.destination_client() as client:
        config = client.config
    # Not Venv.restore_current(): without an activated venv it runs the `python` on PATH.
    runner = create_runner(
        venv or Venv.restore(sys.prefix, current=True),
        config,
        pipeline.working_dir,
        str(PACKAGE),
        # The package's profiles (dlt's own DuckDB profile loads httpfs, a download).
        package_profiles_dir=str(PACKAGE),
        package_profile_name=config.destination_type,
    )
    variables: dict[str, Any] = {"crm_leads_sources": list(sources)}
    variables.update({f"crm_leads_{s}_schema": d for s, d in (datasets or {}).items()})
    models = runner.run_all(additional_vars=variables, destination_dataset_name=schema)
    tests = runner.test(additional_vars=variables, destination_dataset_name=schema)
    return [*models, *tests]


def build(
    sources: Sequence[str] = tuple(SOURCES),
    destination: str | None = None,
    dataset: str | None = None,
    pipelines_dir: str | None = None,
    schema: str = SCHEMA,
) -> list[Any]:
    """``build_models`` on the warehouse the runs load, resolved as they resolve it (their
    settings; DuckDB: the same file), through the first source's pipeline; ``dataset``: the
    first source's, if not its name."""
    dataset = dataset or sources[0]
    warehouse = resolve_warehouse(destination, dataset, None)
    pipeline = make_pipeline(SOURCES[sources[0]], warehouse.destination, dataset, pipelines_dir)
    return build_models(pipeline, sources, schema, {sources[0]: dataset})


def failure(exc: BaseException) -> str:
    """One line: the dbt command and the models or tests that failed, with dbt's message."""
    failed = [
        f"{result.model_name} ({result.status}: {result.message})"
        for result in getattr(exc, "run_results", None) or ()
        if result.status in ("fail", "error")
    ]
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{reason}: {', '.join(failed)}" if failed else reason


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.views",
        description="Build the dbt package's models (dbt_package/) in the warehouse of a run, "
        'through dlt\'s dbt runner; needs the dbt extra (pip install -e ".[dbt]"). A failed '
        "model or dbt test fails it (exit 1) with dbt's reason.",
    )
    parser.add_argument(
        "--source",
        action="append",
        choices=sorted(SOURCES),
        help="a source the warehouse holds, repeated for both (default both); the first's "
        "pipeline gives the destination",
    )
    parser.add_argument("--destination", default=None, help="as for the runs (default duckdb)")
    parser.add_argument("--dataset", default=None, help="the first source's, if not its name")
    parser.add_argument("--schema", default=SCHEMA, help=f"for the models (default {SCHEMA})")
    parser.add_argument("--pipelines-dir", default=None)
    args = parser.parse_args(argv)
    sources = args.source or list(SOURCES)
    try:
        results = build(sources, args.destination, args.dataset, args.pipelines_dir, args.schema)
    except ConfigurationError as exc:  # the warehouse's settings
        print(f"views: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # dlt's DBTProcessingError, or dbt missing
        print(f"views: {failure(exc)}", file=sys.stderr)
        return 1
    for result in results:
        print(f"{result.status} {result.model_name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
