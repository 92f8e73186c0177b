"""`python -m pipelines.views` after the runs: dlt's dbt runner builds and tests the package's
models on the runs' DuckDB file; compared with the tables they read and the simulator's leads.
A failed dbt test fails it."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.views import main as views_main
from simulators.leads_v1 import LeadsV1Server
from tests.helpers import Warehouse


@pytest.fixture
def views_env(monkeypatch: pytest.MonkeyPatch, loaded: Warehouse) -> list[str]:
    """The runs' settings, as a user exports them; the arguments of the command."""
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(loaded.path))
    return ["--pipelines-dir", str(loaded.pipelines_dir)]


def test_views_match_the_tables(
    loaded: Warehouse, v1_sim: LeadsV1Server, views_env: list[str]
) -> None:
    gone = loaded.query("SELECT id FROM mega.leads WHERE _deleted_at IS NOT NULL")[0][0]

    assert views_main(views_env) == 0

    live = loaded.query("SELECT COUNT(*) FROM mega.leads WHERE _deleted_at IS NULL")[0][0]
    mega = "FROM crm_leads.current_leads WHERE source_system = 'mega'"
    assert loaded.query(f"SELECT COUNT(*) {mega}")[0][0] == live == 349
    assert not loaded.query(f"SELECT 1 {mega} AND source_id = '{gone}'")
    assert (
        loaded.query("SELECT SUM(leads) FROM crm_leads.leads_by_day WHERE source_system = 'mega'")[
            0
        ][0]
        == live
    )
    types = dict(
        loaded.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'crm_leads' AND table_name = 'lead_custom_fields_wide'"
        )
    )
    assert types["budget"] == "DOUBLE" and types["pre_approved"] == "BOOLEAN"
    numeric_budgets = loaded.query(
        "SELECT f.lead_id, f.value_number FROM mega.leads__custom_fields f "
        "JOIN mega.leads l ON l.id = f.lead_id AND l._deleted_at IS NULL "
        "WHERE f.slug = 'budget' AND f.value_type = 'number' ORDER BY 1"
    )
    assert numeric_budgets
    assert numeric_budgets == loaded.query(
        "SELECT lead_id, budget FROM crm_leads.lead_custom_fields_wide "
        "WHERE budget IS NOT NULL ORDER BY 1"
    )
    assert loaded.query("SELECT COUNT(*) FROM crm_leads.lead_custom_fields_wide")[0][0] == live
    by_stage = dict(
        loaded.query(
            "SELECT stage, SUM(leads) FROM crm_leads.leads_by_day "
            "WHERE source_system = 'leads_v1' GROUP BY stage"
        )
    )
    truth: dict[str, int] = {}
    for lead in v1_sim.store.leads():
        truth[lead["pipeline_stage"]] = truth.get(lead["pipeline_stage"], 0) + 1
    assert by_stage == truth
    assert sum(truth.values()) == 449


def test_a_failed_dbt_test_fails_the_command(
    loaded: Warehouse, views_env: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with duckdb.connect(str(loaded.path)) as con:
        con.execute("INSERT INTO leads_v1.leads SELECT * FROM leads_v1.leads LIMIT 1")

    assert views_main(views_env) == 1

    reason = capsys.readouterr().err.strip().splitlines()[-1]
    assert reason.startswith("views: DBT command `test` could not be executed: ")
    assert "unique_stg_leads_v1__leads_lead_id (fail:" in reason
