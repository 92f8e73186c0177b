"""Shared fixtures: a simulator with a deterministic clock, and a warehouse that runs the pipeline.

Every test talks to the simulator over real HTTP on loopback and checks what a user would:
rows in DuckDB, the requests sent, the state kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from pipelines.mega_leads import run
from pipelines.result import RunResult
from simulators.mega import (
    DEFAULT_CUSTOMER_ID,
    DEFAULT_TOKEN,
    LeadStore,
    ManualClock,
    SimulatorServer,
    generate_leads,
)

# Seeded leads are updated before 2026-01-01; the simulator's clock runs after that.
CLOCK_START = datetime(2026, 3, 1, tzinfo=timezone.utc)
LEAD_COLUMNS = [
    "id",
    "customer_id",
    "contact_name",
    "contact_phone",
    "contact_email",
    "source_platform",
    "source_type",
    "status",
    "score",
    "qualified",
    "current_stage__id",
    "current_stage__slug",
    "current_stage__name",
    "current_stage__color",
    "owner__id",
    "owner__name",
    "owner__role_name",
    "last_interaction_at",
    "interaction_count",
    "created_at",
    "updated_at",
    "_deleted_at",
]


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry settings through dlt config, as a user would set them; small so tests are quick."""
    monkeypatch.setenv("SOURCES__MEGA__BACKOFF_BASE", "0.01")
    monkeypatch.setenv("SOURCES__MEGA__BACKOFF_MAX", "0.05")
    monkeypatch.setenv("SOURCES__MEGA__RETRY_AFTER_MAX", "1")
    monkeypatch.setenv("SOURCES__MEGA__MAX_RETRIES", "4")
    monkeypatch.setenv("SOURCES__MEGA__READ_TIMEOUT", "5")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(CLOCK_START, step=timedelta(seconds=1))


def make_sim(clock: ManualClock, n_leads: int, seed: int = 7, **kwargs: Any) -> SimulatorServer:
    store = LeadStore(clock, DEFAULT_CUSTOMER_ID)
    store.add_many(generate_leads(n_leads, seed, customer_id=DEFAULT_CUSTOMER_ID))
    return SimulatorServer(store=store, **kwargs)


@pytest.fixture
def sim(clock: ManualClock) -> Iterator[SimulatorServer]:
    """350 leads: four pages of 100."""
    with make_sim(clock, 350) as server:
        yield server


class Warehouse:
    """A DuckDB file and a pipelines dir of one test; ``run`` loads from ``sim`` into them."""

    def __init__(self, root: Path, sim: SimulatorServer) -> None:
        self.path = root / "leads.duckdb"
        self.pipelines_dir = root / "pipelines"
        self.sim = sim

    def run(self, **options: Any) -> RunResult:
        options.setdefault("base_url", self.sim.url)
        options.setdefault("api_token", DEFAULT_TOKEN)
        options.setdefault("customer_id", DEFAULT_CUSTOMER_ID)
        return run(
            destination=dlt.destinations.duckdb(str(self.path)),
            pipelines_dir=str(self.pipelines_dir),
            **options,
        )

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if not self.path.exists():
            return []
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.sql(sql).fetchall()

    def tables(self) -> set[str]:
        rows = self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'mega'"
        )
        return {row[0] for row in rows}

    def columns(self, table: str) -> dict[str, str]:
        rows = self.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = 'mega' AND table_name = '{table}'"
        )
        return {row[0]: row[1] for row in rows}

    def leads(self) -> dict[str, dict[str, Any]]:
        if "leads" not in self.tables():
            return {}
        rows = self.query(f"SELECT {', '.join(LEAD_COLUMNS)} FROM mega.leads")
        return {row[0]: dict(zip(LEAD_COLUMNS, row, strict=True)) for row in rows}

    def custom_fields(self) -> dict[tuple[str, str], tuple[str | None, str]]:
        if "leads__custom_fields" not in self.tables():
            return {}
        rows = self.query("SELECT lead_id, slug, value, value_type FROM mega.leads__custom_fields")
        return {(row[0], row[1]): (row[2], row[3]) for row in rows}

    def state(self, stream: str = "all") -> dict[str, Any]:
        path = self.pipelines_dir / "mega_leads" / "state.json"
        if not path.exists():
            return {}
        state = json.loads(path.read_text())
        resources = state.get("sources", {}).get("mega", {}).get("resources", {})
        return dict(resources.get("leads", {}).get("streams", {}).get(stream, {}))


@pytest.fixture
def warehouse(tmp_path: Path, sim: SimulatorServer) -> Warehouse:
    return Warehouse(tmp_path, sim)


def ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def expected_row(lead: dict[str, Any]) -> dict[str, Any]:
    stage = lead.get("current_stage") or {}
    owner = lead.get("owner") or {}
    row = {name: lead.get(name) for name in LEAD_COLUMNS}
    row.update({f"current_stage__{key}": stage.get(key) for key in ("id", "slug", "name", "color")})
    row.update({f"owner__{key}": owner.get(key) for key in ("id", "name", "role_name")})
    for name in ("last_interaction_at", "created_at", "updated_at"):
        row[name] = ts(lead.get(name))
    row["_deleted_at"] = None
    return row


def expected_value(value: Any) -> tuple[str | None, str]:
    if value is None:
        return None, "null"
    if isinstance(value, bool):
        return ("true" if value else "false"), "boolean"
    if isinstance(value, int):
        return str(value), "number"
    if isinstance(value, float):
        return format(Decimal(str(value)), "f"), "number"
    return str(value), "string"


def source_truth(
    sim: SimulatorServer,
) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], tuple[str | None, str]]]:
    leads = sim.store.snapshot()
    rows = {lead["id"]: expected_row(lead) for lead in leads}
    fields = {
        (lead["id"], slug): expected_value(value)
        for lead in leads
        for slug, value in (lead.get("custom_fields") or {}).items()
    }
    return rows, fields


def assert_matches_source(warehouse: Warehouse, sim: SimulatorServer) -> None:
    """The warehouse holds exactly the source's current leads and custom fields."""
    expected_leads, expected_fields = source_truth(sim)
    loaded_leads = warehouse.leads()
    assert set(loaded_leads) == set(expected_leads)
    for lead_id, expected in expected_leads.items():
        assert loaded_leads[lead_id] == expected, lead_id
    assert warehouse.custom_fields() == expected_fields


def list_requests(sim: SimulatorServer) -> list[dict[str, str]]:
    return [r.query for r in sim.requests if r.method == "GET" and r.path.endswith("/crm/leads")]
