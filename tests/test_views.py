"""The BI views on DuckDB: current leads without the deleted ones, custom fields one typed
column per slug, leads per day, stage and source; compared with the tables they read."""

from __future__ import annotations

from pathlib import Path

import dlt

from pipelines.runner import make_pipeline
from pipelines.views import create_views
from simulators.leads_v1 import LeadsV1Server
from simulators.mega import SimulatorServer
from tests.helpers import Warehouse
from tests.helpers.leads_v1 import V1Warehouse


def test_mega_views_match_the_tables(
    warehouse: Warehouse, sim: SimulatorServer, tmp_path: Path
) -> None:
    warehouse.run()
    gone = sim.store.ids()[0]
    sim.store.delete(gone)
    warehouse.run(reconcile=True)
    pipeline = make_pipeline(
        "mega_leads", dlt.destinations.duckdb(str(warehouse.path)), "mega", str(tmp_path / "v")
    )

    views = create_views(pipeline, "mega")

    assert len(views) == 3
    live = warehouse.query("SELECT COUNT(*) FROM mega.leads WHERE _deleted_at IS NULL")[0][0]
    assert warehouse.query("SELECT COUNT(*) FROM mega.current_leads")[0][0] == live == 349
    assert warehouse.query("SELECT SUM(leads) FROM mega.leads_by_day")[0][0] == live
    assert not warehouse.query(f"SELECT 1 FROM mega.current_leads WHERE id = '{gone}'")
    types = dict(
        warehouse.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'mega' AND table_name = 'custom_fields_wide'"
        )
    )
    assert types["budget"] == "DOUBLE" and types["pre_approved"] == "BOOLEAN"
    numeric_budgets = warehouse.query(
        "SELECT f.lead_id, f.value_number FROM mega.leads__custom_fields f "
        "JOIN mega.current_leads l ON l.id = f.lead_id "
        "WHERE f.slug = 'budget' AND f.value_type = 'number' ORDER BY 1"
    )
    assert numeric_budgets
    assert numeric_budgets == warehouse.query(
        "SELECT lead_id, budget FROM mega.custom_fields_wide WHERE budget IS NOT NULL ORDER BY 1"
    )
    assert warehouse.query("SELECT COUNT(*) FROM mega.custom_fields_wide")[0][0] == live


def test_leads_v1_views_match_the_table(
    v1_warehouse: V1Warehouse, v1_sim: LeadsV1Server, tmp_path: Path
) -> None:
    v1_warehouse.run()
    v1_sim.store.delete(v1_sim.store.leads()[0]["id"])
    v1_warehouse.run()
    pipeline = make_pipeline(
        "leads_v1", dlt.destinations.duckdb(str(v1_warehouse.path)), "leads_v1", str(tmp_path / "v")
    )

    create_views(pipeline, "leads_v1")

    by_stage = dict(
        v1_warehouse.query("SELECT stage, SUM(leads) FROM leads_v1.leads_by_day GROUP BY stage")
    )
    truth: dict[str, int] = {}
    for lead in v1_sim.store.leads():
        truth[lead["pipeline_stage"]] = truth.get(lead["pipeline_stage"], 0) + 1
    assert by_stage == truth
    assert v1_warehouse.query("SELECT COUNT(*) FROM leads_v1.current_leads")[0][0] == 449
