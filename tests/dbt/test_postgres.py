"""The dbt package on PostgreSQL: both sources loaded from their simulators, then `dbt build`
with the package's `postgres` profile, and `python -m pipelines.views --destination postgres`
(dlt's dbt runner with the runs' credentials); the marts read back with psycopg2 and compared
with the tables (DuckDB: test_dbt_package.py, test_views.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import psycopg2
import pytest

from pipelines import leads_v1, mega_leads
from pipelines.views import main as views_main
from simulators.leads_v1 import DEFAULT_TOKEN as V1_TOKEN
from simulators.leads_v1 import LeadsV1Server
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, SimulatorServer
from tests.dbt.conftest import Dbt, postgres_env
from tests.postgres import postgres_server


@pytest.fixture
def postgres() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def test_build_on_postgres(
    postgres: str,
    sim: SimulatorServer,
    v1_sim: LeadsV1Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = str(tmp_path / "pipelines")
    into: dict[str, Any] = {
        "destination": dlt.destinations.postgres(postgres),
        "pipelines_dir": folder,
    }
    mega: dict[str, Any] = {
        "base_url": sim.url,
        "api_token": DEFAULT_TOKEN,
        "customer_id": DEFAULT_CUSTOMER_ID,
    }
    mega_leads.run(**into, **mega)
    gone = sim.store.ids()[0]
    sim.store.delete(gone)
    mega_leads.run(**into, **mega, reconcile=True)
    leads_v1.run(**into, base_url=v1_sim.url, api_token=V1_TOKEN)

    def query(sql: str) -> list[tuple[Any, ...]]:
        with psycopg2.connect(postgres) as connection, connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []

    Dbt(tmp_path / "dbt", postgres_env(postgres), profile="postgres").ok("build")
    counts = dict(query("SELECT source_system, COUNT(*) FROM crm_leads.current_leads GROUP BY 1"))
    assert counts == {"mega": 349, "leads_v1": 450}
    query("DROP SCHEMA crm_leads CASCADE")

    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres)
    assert views_main(["--destination", "postgres", "--pipelines-dir", folder]) == 0

    current = {
        row[0]
        for row in query(
            "SELECT source_id FROM crm_leads.current_leads WHERE source_system = 'mega'"
        )
    }
    assert len(current) == 349 and gone not in current
    assert query("SELECT SUM(leads) FROM crm_leads.leads_by_day")[0][0] == 349 + 450
    types = dict(
        query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'crm_leads' AND table_name = 'lead_custom_fields_wide'"
        )
    )
    assert types["budget"] == "double precision" and types["pre_approved"] == "boolean"
    budgets = query(
        "SELECT f.lead_id, f.value_number FROM mega.leads__custom_fields f "
        "JOIN mega.leads l ON l.id = f.lead_id AND l._deleted_at IS NULL "
        "WHERE f.slug = 'budget' AND f.value_type = 'number' ORDER BY 1"
    )
    assert budgets and budgets == query(
        "SELECT lead_id, budget FROM crm_leads.lead_custom_fields_wide "
        "WHERE budget IS NOT NULL ORDER BY 1"
    )
    assert query("SELECT COUNT(*) FROM crm_leads.lead_custom_fields_wide")[0][0] == 349
