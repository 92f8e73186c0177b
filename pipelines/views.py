"""SQL views for what BI users ask first, made in the warehouse a source loaded:

- ``current_leads``: the leads not deleted at the source;
- ``custom_fields_wide`` (MEGA): one typed column per custom-field slug (numbers as double,
  booleans as boolean, the rest text), one row per current lead; made from the slugs loaded, so
  make the views again when new slugs appear;
- ``leads_by_day``: leads per creation day, stage and source.

``python -m pipelines.views --source mega|leads_v1 [--destination postgres]`` after a run, with
the run's settings; plain SQL that DuckDB and PostgreSQL run.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any

from sources.core.dlt_config import configure_dlt

configure_dlt()

from pipelines.registry import SOURCES  # noqa: E402
from pipelines.runner import make_pipeline  # noqa: E402
from warehouses import resolve_warehouse  # noqa: E402

_NAME = re.compile(r"[^a-z0-9_]+")
# value_type -> the typed column of leads__custom_fields and its SQL type.
_TYPED = {"number": "value_number", "boolean": "value_bool"}


def view_statements(client: Any, source: str) -> list[str]:
    """The CREATE VIEW statements for ``source``'s dataset, through dlt's SQL client."""
    entry = SOURCES[source]
    stage, origin = entry.stage_column, entry.source_column

    def table(name: str) -> str:
        return str(client.make_qualified_table_name(name))

    current = table("current_leads")
    statements = [
        f"CREATE OR REPLACE VIEW {current} AS SELECT * FROM {table('leads')} "
        "WHERE _deleted_at IS NULL",
        f"CREATE OR REPLACE VIEW {table('leads_by_day')} AS SELECT "
        f"CAST(created_at AS DATE) AS day, {stage} AS stage, {origin} AS source, "
        f"COUNT(*) AS leads FROM {current} "
        f"GROUP BY CAST(created_at AS DATE), {stage}, {origin}",
    ]
    if entry.custom_fields:
        statements.append(_wide_view(client, current, table("leads__custom_fields"), table))
    return statements


def _wide_view(client: Any, current: str, fields: str, table: Any) -> str:
    """One column per slug, typed by the kind most of its values have."""
    with client.execute_query(
        f"SELECT slug, value_type, COUNT(*) FROM {fields} WHERE value_type <> 'null' "
        "GROUP BY slug, value_type"
    ) as cursor:
        counts = cursor.fetchall()
    kinds: dict[str, tuple[int, str]] = {}
    for slug, kind, count in counts:
        if slug not in kinds or count > kinds[slug][0]:
            kinds[slug] = (int(count), str(kind))
    columns, taken = [], set()
    for slug in sorted(kinds):
        name = _NAME.sub("_", slug.lower()).strip("_") or "field"
        while name in taken or name == "lead_id":
            name += "_"
        taken.add(name)
        value = _TYPED.get(kinds[slug][1], "value")
        # PostgreSQL has no MAX over booleans; BOOL_OR (DuckDB has it too) is the same here.
        aggregate = "BOOL_OR" if value == "value_bool" else "MAX"
        quoted = client.escape_column_name(name)
        literal = slug.replace("'", "''")
        columns.append(
            f"{aggregate}(CASE WHEN f.slug = '{literal}' THEN f.{value} END) AS {quoted}"
        )
    select = ", ".join(["l.id AS lead_id", *columns])
    return (
        f"CREATE OR REPLACE VIEW {table('custom_fields_wide')} AS SELECT {select} FROM {current} l "
        f"LEFT JOIN {fields} f ON f.lead_id = l.id GROUP BY l.id"
    )


def create_views(pipeline: Any, source: str) -> list[str]:
    """Make the views; their names."""
    with pipeline.sql_client() as client:
        statements = view_statements(client, source)
        for statement in statements:
            client.execute_sql(statement)
    return [statement.split(" VIEW ", 1)[1].split(" AS ", 1)[0] for statement in statements]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", choices=sorted(SOURCES), required=True)
    parser.add_argument("--destination", default=None, help="as for the runs (default duckdb)")
    parser.add_argument("--dataset", default=None, help="default: the source's")
    parser.add_argument("--pipelines-dir", default=None)
    args = parser.parse_args(argv)
    name = SOURCES[args.source].pipeline_name
    dataset = args.dataset or SOURCES[args.source].dataset
    # The warehouse the runs load, resolved as they resolve it (DuckDB: the same file).
    warehouse = resolve_warehouse(args.destination, dataset, None)
    pipeline = make_pipeline(name, warehouse.destination, dataset, args.pipelines_dir)
    for view in create_views(pipeline, args.source):
        print(f"view {view}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
