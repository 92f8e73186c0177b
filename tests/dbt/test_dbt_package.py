"""The dbt package (dbt_package/) on both sources loaded from their simulators: `dbt build`
passes and its marts hold the raw tables' live leads, `dbt docs generate` documents every column,
a planted duplicate key or a count the API's total contradicts fails the build, and a new
custom-field slug becomes a column of the wide model at the next load and build."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.dbt.conftest import PACKAGE, Dbt
from tests.helpers import Warehouse

MARTS = "crm_leads"


def _sorted(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=repr)


def test_marts_hold_the_live_leads_of_the_raw_tables(loaded: Warehouse, dbt: Dbt) -> None:
    # What pipelines/views.py's hand-written views held (compared equal to these marts on the
    # same data before the views went): the raw tables' live leads, by day, and pivoted.
    dbt.ok("build")

    query = loaded.query
    for source, stage, origin, live in (
        ("mega", "current_stage__slug", "source_platform", 349),
        ("leads_v1", "pipeline_stage", "source", 449),
    ):
        raw = f"FROM {source}.leads WHERE _deleted_at IS NULL"
        mart = f"FROM {MARTS}.current_leads WHERE source_system = '{source}'"
        assert _sorted(
            query(f"SELECT source_id, stage, acquisition_source, created_at, updated_at {mart}")
        ) == _sorted(query(f"SELECT id, {stage}, {origin}, created_at, updated_at {raw}"))
        assert len(query(f"SELECT 1 {mart}")) == live
        assert _sorted(
            query(
                f"SELECT day, stage, source, leads FROM {MARTS}.leads_by_day "
                f"WHERE source_system = '{source}'"
            )
        ) == _sorted(
            query(
                f"SELECT CAST(created_at AS DATE), {stage}, {origin}, COUNT(*) {raw} GROUP BY ALL"
            )
        )

    columns = dict(
        query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema "
            f"= '{MARTS}' AND table_name = 'lead_custom_fields_wide'"
        )
    )
    assert columns["budget"] == "DOUBLE" and columns["pre_approved"] == "BOOLEAN"
    assert columns["lead_line"] == "VARCHAR"
    assert set(columns) == {"lead_id"} | {
        slug for (slug,) in query("SELECT DISTINCT slug FROM mega.leads__custom_fields")
    }
    wide = query(f"SELECT lead_id, budget, pre_approved FROM {MARTS}.lead_custom_fields_wide")
    assert len(wide) == 349
    fields = {
        (lead, slug): (number, flag)
        for lead, slug, number, flag in query(
            "SELECT lead_id, slug, value_number, value_bool FROM mega.leads__custom_fields "
            "WHERE slug IN ('budget', 'pre_approved')"
        )
    }
    assert any(budget is not None for _, budget, _ in wide)
    for lead, budget, approved in wide:
        assert budget == fields.get((lead, "budget"), (None, None))[0]
        assert approved == fields.get((lead, "pre_approved"), (None, None))[1]


def test_docs_show_every_column_described_and_sources_are_fresh(
    loaded: Warehouse, dbt: Dbt
) -> None:
    dbt.ok("build")
    assert "PASS freshness of mega._mega_runs" in dbt.ok("source freshness")
    stale = dbt("source freshness", "--vars", "{crm_leads_freshness_error_hours: 0}")
    assert stale.returncode == 1 and "ERROR STALE freshness of mega._mega_runs" in stale.stdout
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


def test_usable_as_a_dependency_of_another_dbt_project(loaded: Warehouse, tmp_path: Path) -> None:
    # A user's own project: its profile, its schema, the package by a local path.
    project = tmp_path / "analytics"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: analytics\nversion: '1.0.0'\nconfig-version: 2\nprofile: analytics\n"
    )
    (project / "profiles.yml").write_text(
        "analytics:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {loaded.path}\n      schema: analytics\n"
    )
    (project / "packages.yml").write_text(f"packages:\n  - local: {PACKAGE}\n")
    (project / "models" / "leads_per_system.sql").write_text(
        "select source_system, count(*) as leads from {{ ref('current_leads') }} group by 1"
    )
    dbt = Dbt(tmp_path / "dbt", {}, profile="analytics", project=project)

    dbt.ok("deps")
    dbt.ok("build")

    assert sorted(loaded.query("SELECT * FROM analytics.leads_per_system")) == [
        ("leads_v1", 449),
        ("mega", 349),
    ]


def _execute(warehouse: Warehouse, sql: str) -> None:
    import duckdb

    with duckdb.connect(str(warehouse.path)) as con:
        con.execute(sql)
