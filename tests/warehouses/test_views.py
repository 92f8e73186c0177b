"""The BI views on PostgreSQL, made by the command a user runs after a load, read back with
psycopg2 and compared with the tables (DuckDB: tests/test_views.py)."""

from __future__ import annotations

import pytest

from pipelines.views import main as views_main
from tests.warehouses.target import Target


@pytest.mark.parametrize("target", ["postgres"], indirect=True)
def test_views_on_postgres(target: Target) -> None:
    target.run()
    gone = target.sim.store.ids()[0]
    target.sim.store.delete(gone)
    target.run(reconcile=True)

    code = views_main(
        [
            "--source",
            "mega",
            "--destination",
            "postgres",
            "--pipelines-dir",
            str(target.pipelines_dir),
        ]
    )

    assert code == 0
    current = target.reader.rows("current_leads")
    assert len(current) == 349 and gone not in {row["id"] for row in current}
    assert sum(row["leads"] for row in target.reader.rows("leads_by_day")) == 349
    wide = {row["lead_id"]: row for row in target.reader.rows("custom_fields_wide")}
    fields = target.custom_field_rows()
    for (lead_id, slug), row in fields.items():
        if slug == "budget" and row["value_type"] == "number" and lead_id in wide:
            assert wide[lead_id]["budget"] == row["value_number"]
    assert len(wide) == 349
