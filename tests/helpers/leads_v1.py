"""Helpers of the Leads v1 source's tests: a test's simulator and DuckDB warehouse, the source's
truth (the store's records) and the exactness check against the warehouse, request counts."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import dlt
import duckdb

from pipelines.leads_v1 import run
from pipelines.result import RunResult
from simulators.leads_v1 import (
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_TOKEN,
    DETAIL_FIELDS,
    LeadsV1Server,
    LeadsV1Store,
    ManualClock,
    generate_leads,
)
from tests.helpers import PROJECT, ts

LIST_PATH = "/api/v1/leads"
DETAIL_PATH = "/api/v1/leads/{id}"
PAGE = 200  # the connector's page size (004's maximum)
TIMESTAMPS = ("created_at", "updated_at", "qualification_completed_at")


def make_v1_sim(clock: ManualClock, n_leads: int, seed: int = 11, **kwargs: Any) -> LeadsV1Server:
    store = LeadsV1Store(clock, DEFAULT_ORGANIZATION_ID)
    store.add_many(generate_leads(n_leads, seed, DEFAULT_ORGANIZATION_ID, clock.now()))
    return LeadsV1Server(store=store, **kwargs)


class V1Warehouse:
    """A DuckDB file and a pipelines dir of one test; ``run`` loads from ``sim`` into them."""

    def __init__(self, root: Path, sim: LeadsV1Server) -> None:
        self.path = root / "leads.duckdb"
        self.pipelines_dir = root / "pipelines"
        self.sim = sim

    def run(self, **options: Any) -> RunResult:
        options.setdefault("base_url", self.sim.url)
        options.setdefault("api_token", DEFAULT_TOKEN)
        return run(
            destination=dlt.destinations.duckdb(str(self.path)),
            pipelines_dir=str(self.pipelines_dir),
            **options,
        )

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if not self.path.exists():
            return []
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.sql(sql, params=list(params) or None).fetchall()

    def rows(self) -> dict[str, dict[str, Any]]:
        """Every row of `leads_v1.leads`, soft-deleted ones too, by id."""
        columns = [*DETAIL_FIELDS, "_deleted_at"]
        found = self.query(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'leads_v1' AND table_name = 'leads'"
        )
        if not found or not found[0][0]:
            return {}
        rows = self.query(f"SELECT {', '.join(columns)} FROM leads_v1.leads")
        return {row[0]: dict(zip(columns, row, strict=True)) for row in rows}

    def live(self) -> dict[str, dict[str, Any]]:
        return {key: row for key, row in self.rows().items() if row["_deleted_at"] is None}


def expected(record: dict[str, Any]) -> dict[str, Any]:
    """A simulator record as the warehouse holds it."""
    return {
        name: ts(record[name]) if name in TIMESTAMPS else record[name] for name in DETAIL_FIELDS
    }


def assert_exact(warehouse: V1Warehouse, sim: LeadsV1Server, **matching: str) -> None:
    """The live rows are exactly the organization's leads (matching the filters), field by
    field; every other row is soft-deleted."""
    truth = {
        lead["id"]: expected(lead)
        for lead in sim.store.leads()
        if all(lead[key] == value for key, value in matching.items())
    }
    live = {key: {k: row[k] for k in DETAIL_FIELDS} for key, row in warehouse.live().items()}
    assert live.keys() == truth.keys()
    for lead_id, row in truth.items():
        assert live[lead_id] == row, lead_id


def requests_to(sim: LeadsV1Server, kind: str) -> list[Any]:
    """The answered requests of one endpoint: "list" or "detail"."""
    records = [r for r in sim.requests if r.path.startswith(LIST_PATH)]
    if kind == "list":
        return [r for r in records if r.path == LIST_PATH]
    return [r for r in records if r.path != LIST_PATH]


def pages_of(count: int) -> int:
    return max(1, -(-count // PAGE))


def newest_created(sim: LeadsV1Server) -> datetime:
    created = ts(max(lead["created_at"] for lead in sim.store.leads()))
    assert created is not None
    return created


def cli_env(sim: LeadsV1Server, root: Path, token: str = DEFAULT_TOKEN) -> dict[str, str]:
    """Environment of a CLI run loading into ``root`` (the same files as ``V1Warehouse``)."""
    env = dict(os.environ)
    env.update(
        SOURCES__LEADS_V1__BASE_URL=sim.url,
        SOURCES__LEADS_V1__API_TOKEN=token,
        DESTINATION__DUCKDB__CREDENTIALS=str(root / "leads.duckdb"),
        DLT_DATA_DIR=str(root),
        RUNTIME__DLTHUB_TELEMETRY="false",
    )
    return env


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.leads_v1", *args],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=180,
    )
