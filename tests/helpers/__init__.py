"""Helpers the test files share (fixtures are in conftest.py): the simulator and the DuckDB
warehouse of a test, the source's truth and the exactness checks against it, paging
arithmetic, CLI runs, another process holding the DuckDB file, and the run manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dlt
import duckdb
from dlt.common.versioned_state import decompress_state

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
from simulators.mega.loaded import as_text

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


PROJECT = Path(__file__).resolve().parents[2]
PAGE = 100
ATTEMPTS = 5  # SOURCES__MEGA__MAX_RETRIES=4 (conftest): one try and four retries


# ----- the source and a test's DuckDB warehouse -------------------------------------------


def make_sim(clock: ManualClock, n_leads: int, seed: int = 7, **kwargs: Any) -> SimulatorServer:
    store = LeadStore(clock, DEFAULT_CUSTOMER_ID)
    store.add_many(generate_leads(n_leads, seed, customer_id=DEFAULT_CUSTOMER_ID))
    return SimulatorServer(store=store, **kwargs)


class Warehouse:
    """A DuckDB file and a pipelines dir of one test; ``run`` loads from ``sim`` into them."""

    def __init__(self, root: Path, sim: SimulatorServer) -> None:
        self.path = root / "leads.duckdb"
        self.pipelines_dir = root / "pipelines"
        self.sim = sim

    def run(self, **options: Any) -> RunResult:
        return run_from(
            self.sim,
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


def source_truth(
    sim: SimulatorServer,
) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], tuple[str | None, str]]]:
    leads = sim.store.snapshot()
    rows = {lead["id"]: expected_row(lead) for lead in leads}
    fields = {
        (lead["id"], slug): as_text(value)
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


# ----- paging, exactness, committed state ---------------------------------------------------


# A backfill into empty tables first asks for the newest lead (one `limit=1` request), so that
# loads of leads older than it can be appended: request numbers of such runs start one later.
PROBE = 1


def keyset_order(sim: SimulatorServer) -> list[dict[str, Any]]:
    """The source's leads in the order the sweep reads them: (updated_at, id)."""
    return sorted(sim.store.snapshot(), key=lambda lead: (lead["updated_at"], lead["id"]))


def first_pages_ids(sim: SimulatorServer, pages: int) -> set[str]:
    return {lead["id"] for lead in keyset_order(sim)[: pages * PAGE]}


def assert_no_duplicates(warehouse: Warehouse) -> None:
    if "leads" in warehouse.tables():
        assert warehouse.query("SELECT id FROM mega.leads GROUP BY id HAVING COUNT(*) > 1") == []
    if "leads__custom_fields" in warehouse.tables():
        dupes = warehouse.query(
            "SELECT lead_id, slug FROM mega.leads__custom_fields "
            "GROUP BY lead_id, slug HAVING COUNT(*) > 1"
        )
        assert dupes == []


def assert_exact(warehouse: Warehouse, sim: SimulatorServer) -> None:
    """Exactly the source: same leads and custom fields, each once."""
    assert_matches_source(warehouse, sim)
    assert_no_duplicates(warehouse)


def destination_stream_state(warehouse: Warehouse) -> dict[str, Any]:
    """The stream state the warehouse itself holds (what a fresh machine would resume from)."""
    if "_dlt_pipeline_state" not in warehouse.tables():
        return {}
    rows = warehouse.query(
        "SELECT s.state FROM mega._dlt_pipeline_state s "
        "JOIN mega._dlt_loads l ON l.load_id = s._dlt_load_id AND l.status = 0 "
        "ORDER BY s.version DESC LIMIT 1"
    )
    if not rows:
        return {}
    state = decompress_state(rows[0][0])
    resources = state.get("sources", {}).get("mega", {}).get("resources", {})
    return dict(resources.get("leads", {}).get("streams", {}).get("all", {}))


def assert_state_not_ahead(warehouse: Warehouse, sim: SimulatorServer) -> None:
    """Every source lead strictly older than the committed high-water mark is loaded as it is
    at the source: the committed state never claims data the warehouse does not hold."""
    mark = destination_stream_state(warehouse).get("high_water_mark")
    if mark is None:
        return
    loaded = warehouse.leads()
    mark_at = ts(mark)
    assert mark_at is not None
    behind = [lead for lead in sim.store.snapshot() if ts(lead["updated_at"]) < mark_at]  # type: ignore[operator]
    missing = [lead["id"] for lead in behind if lead["id"] not in loaded]
    assert missing == [], f"state mark {mark} is ahead of {len(missing)} unloaded leads"


def assert_rerun_requests(
    sim: SimulatorServer, result: RunResult, remaining: int, checkpoint: int, slack: int = 0
) -> None:
    """A rerun reads the pages left and at most one checkpoint's pages again (+ ``slack``)."""
    sent = list_requests(sim)
    assert result.requests == len(sent)
    assert remaining <= len(sent) <= remaining + checkpoint + slack


def newest(leads: list[dict[str, Any]]) -> str:
    return max(lead["updated_at"] for lead in leads)


def one_line_error(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text
    assert "Traceback" not in text
    return text


# ----- the CLI --------------------------------------------------------------------------------


def cli_env(sim: SimulatorServer, root: Path, token: str = DEFAULT_TOKEN) -> dict[str, str]:
    """Environment of a CLI run loading into ``root`` (the same files as ``Warehouse(root)``)."""
    env = dict(os.environ)
    env.update(
        SOURCES__MEGA__BASE_URL=sim.url,
        SOURCES__MEGA__API_TOKEN=token,
        SOURCES__MEGA__CUSTOMER_ID=DEFAULT_CUSTOMER_ID,
        DESTINATION__DUCKDB__CREDENTIALS=str(root / "leads.duckdb"),
        # dlt puts pipelines under $DLT_DATA_DIR/pipelines: Warehouse(root).pipelines_dir
        DLT_DATA_DIR=str(root),
        RUNTIME__DLTHUB_TELEMETRY="false",
    )
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.mega_leads", *args]


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """A CLI run in ``env`` (e.g. ``cli_env``), its output captured."""
    return subprocess.run(
        cli(*args), env=env, cwd=PROJECT, capture_output=True, text=True, timeout=120
    )


def environ_without_settings() -> dict[str, str]:
    """This process's environment without the connector's SOURCES__/DESTINATION__ settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}


def run_cli_clean(
    args: list[str], env: dict[str, str], module: str = "pipelines.mega_leads"
) -> subprocess.CompletedProcess[str]:
    """A CLI run with only ``env``'s settings: other SOURCES__/DESTINATION__ variables dropped."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env={**environ_without_settings(), **env},
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def clean_cli_env(
    sim: SimulatorServer, tmp_path: Path, token: str = DEFAULT_TOKEN
) -> dict[str, str]:
    """The settings a user exports for ``run_cli_clean`` (dlt's data under ``tmp_path/dlt``)."""
    return {
        "SOURCES__MEGA__BASE_URL": sim.url,
        "SOURCES__MEGA__API_TOKEN": token,
        "SOURCES__MEGA__CUSTOMER_ID": DEFAULT_CUSTOMER_ID,
        "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "leads.duckdb"),
        "DLT_DATA_DIR": str(tmp_path / "dlt"),
    }


from tests.helpers.locker import FileLocker as FileLocker  # noqa: E402  # re-exported

# ----- the run manifest ----------------------------------------------------------------------

MANIFEST_FIELDS = (
    "run_id",
    "outcome",
    "started_at",
    "finished_at",
    "pages",
    "leads",
    "requests",
    "retries",
    "rate_limit_waits",
    "checkpoints",
    "high_water_mark_before",
    "high_water_mark_after",
    "api_total",
    "warehouse_count",
    "error",
)


def manifest(warehouse: Warehouse) -> list[dict[str, Any]]:
    rows = warehouse.query(f"SELECT {', '.join(MANIFEST_FIELDS)} FROM mega._mega_runs")
    records = [dict(zip(MANIFEST_FIELDS, row, strict=True)) for row in rows]
    return sorted(records, key=lambda record: record["started_at"])


def as_row(result: RunResult) -> dict[str, Any]:
    return {name: getattr(result, name) for name in MANIFEST_FIELDS}


# ----- a run from the simulator into any destination ---------------------------------------


def run_from(sim: SimulatorServer, **options: Any) -> RunResult:
    """``run`` reading from ``sim`` with the simulator's credentials unless ``options`` say
    otherwise (the defaults of ``Warehouse.run``, for a test's other destinations)."""
    options.setdefault("base_url", sim.url)
    options.setdefault("api_token", DEFAULT_TOKEN)
    options.setdefault("customer_id", DEFAULT_CUSTOMER_ID)
    return run(**options)
