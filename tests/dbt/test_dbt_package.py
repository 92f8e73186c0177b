"""The dbt package (dbt_package/) on both sources loaded from their simulators: `dbt build`
passes and its marts hold what the BI views held, `dbt docs generate` documents every column,
a planted duplicate key or a count the API's total contradicts fails the build, and a new
custom-field slug becomes a column of the wide model at the next load and build."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dlt

from pipelines.runner import make_pipeline
from pipelines.views import create_views
from tests.dbt.conftest import Dbt
from tests.helpers import Warehouse

MARTS = "crm_leads"


def _sorted(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=repr)


def test_marts_equal_the_views_on_the_same_data(
    loaded: Warehouse, dbt: Dbt, tmp_path: Path
) -> None:
    for source, name in (("mega", "mega_leads"), ("leads_v1", "leads_v1")):
        folder = str(tmp_path / "views")
        pipeline = make_pipeline(name, dlt.destinations.duckdb(str(loaded.path)), source, folder)
        create_views(pipeline, source)

    dbt.ok("build")

    query = loaded.query
    for source, stage, origin in (
        ("mega", "current_stage__slug", "source_platform"),
        ("leads_v1", "pipeline_stage", "source"),
    ):
        view = query(
            f"SELECT id, {stage}, {origin}, created_at, updated_at FROM {source}.current_leads"
        )
        mart = query(
            "SELECT source_id, stage, acquisition_source, created_at, updated_at "
            f"FROM {MARTS}.current_leads WHERE source_system = '{source}'"
        )
        assert len(view) in (349, 449)
        assert _sorted(mart) == _sorted(view)
        assert _sorted(
            query(
                f"SELECT day, stage, source, leads FROM {MARTS}.leads_by_day "
                f"WHERE source_system = '{source}'"
            )
        ) == _sorted(query(f"SELECT day, stage, source, leads FROM {source}.leads_by_day"))

    def columns(schema: str, table: str) -> list[tuple[Any, ...]]:
        return query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = "
            f"'{schema}' AND table_name = '{table}' ORDER BY ordinal_position"
        )

    assert columns(MARTS, "lead_custom_fields_wide") == columns("mega", "custom_fields_wide")
    assert ("budget", "DOUBLE") in columns(MARTS, "lead_custom_fields_wide")
    wide = query(f"SELECT * FROM {MARTS}.lead_custom_fields_wide ORDER BY lead_id")
    assert len(wide) == 349
    assert wide == query("SELECT * FROM mega.custom_fields_wide ORDER BY lead_id")


def test_docs_show_every_column_described(loaded: Warehouse, dbt: Dbt) -> None:
    dbt.ok("build")
    dbt.ok("docs generate")

    target = dbt.target / "target"
    catalog = json.loads((target / "catalog.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    documented = {**manifest["nodes"], **manifest["sources"]}
    undescribed = []
    for unique_id, node in {**catalog["nodes"], **catalog["sources"]}.items():
        described = documented[unique_id]
        # The wide model's slug columns are made from the data: its description says what they are.
        if described["name"] == "lead_custom_fields_wide":
            continue
        undescribed += [
            f"{described['name']}.{column.lower()}"
            for column in node["columns"]
            if not described["columns"].get(column.lower(), {}).get("description")
        ]
    assert undescribed == []
    assert len(catalog["sources"]) == 5 and len(catalog["nodes"]) == 6
    email = manifest["sources"]["source.crm_leads.mega.leads"]["columns"]["contact_email"]
    assert email["description"] == "Contact's email"
    assert email["meta"] == {"pii": True, "source_field": "contact_email"}


def test_a_duplicate_id_in_the_raw_table_fails_the_build(loaded: Warehouse, dbt: Dbt) -> None:
    dbt.ok("build")
    _execute(loaded, "INSERT INTO mega.leads SELECT * FROM mega.leads LIMIT 1")

    failed = dbt("build")

    assert failed.returncode == 1
    assert "FAIL 1 unique_stg_mega__leads_lead_id" in failed.stdout


def test_live_leads_not_matching_the_api_total_fail_the_build(loaded: Warehouse, dbt: Dbt) -> None:
    dbt.ok("build")
    # A live lead the API never counted (its total, recorded by the last complete sweep, says
    # 349): a lead loaded twice under two ids, say.
    _execute(
        loaded,
        "INSERT INTO mega.leads SELECT * REPLACE ('planted' AS id) FROM mega.leads "
        "WHERE _deleted_at IS NULL LIMIT 1",
    )

    failed = dbt("build")

    assert failed.returncode == 1
    assert "FAIL 1 mega_live_leads_equal_api_total" in failed.stdout


def test_a_new_slug_is_a_new_column_after_a_load(loaded: Warehouse, dbt: Dbt) -> None:
    dbt.ok("build")
    lead = loaded.sim.store.ids()[5]
    loaded.sim.store.set_custom_field(lead, "Parking Spaces", 2)

    loaded.run()
    dbt.ok("build")

    assert loaded.query(
        f"SELECT lead_id, parking_spaces FROM {MARTS}.lead_custom_fields_wide "
        "WHERE parking_spaces IS NOT NULL"
    ) == [(lead, 2.0)]


def _execute(warehouse: Warehouse, sql: str) -> None:
    import duckdb

    with duckdb.connect(str(warehouse.path)) as con:
        con.execute(sql)
