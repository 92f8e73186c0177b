"""What a push tells its user: every row rejected or skipped (listed, or in a file the summary
names), changed rows on a create-only target (and a way to fail on them), a dry run as JSON
lines jq reads, a summary that names where the ledger is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.push import push
from push_targets.core.result import LISTED
from simulators.core import faults
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, SimulatorServer
from tests.helpers import PROJECT
from tests.helpers.push import ledger, run_push_cli, write_csv, writes

MAP = "contact_name=name,contact_email=email"


def people(n: int) -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "name": f"P {i}", "email": f"p{i}@example.com"} for i in range(n)]


@pytest.fixture
def crm() -> Iterator[SimulatorServer]:
    with SimulatorServer(n_leads=0) as server:
        yield server


def to_mega(crm: SimulatorServer, tmp_path: Path, rows: list[dict[str, Any]], **kw: Any) -> Any:
    return push(
        "mega",
        file=write_csv(tmp_path / "rows.csv", rows),
        field_map=MAP,
        duckdb_file=str(tmp_path / "w.duckdb"),
        base_url=crm.url,
        api_token=DEFAULT_TOKEN,
        customer_id=DEFAULT_CUSTOMER_ID,
        **kw,
    )


def test_changed_rows_on_a_create_only_target_are_listed_and_can_fail_the_push(
    crm: SimulatorServer, tmp_path: Path
) -> None:
    to_mega(crm, tmp_path, people(3))
    changed = people(3)
    changed[1]["name"] = "P one, renamed"
    crm.clear_requests()

    skipped = to_mega(crm, tmp_path, changed)

    assert (skipped.skipped, skipped.unchanged, skipped.rejected) == (1, 2, 0)
    assert "skipped r1: changed since it was pushed; mega only creates" in skipped.summary()
    assert writes(crm) == []

    failed = to_mega(crm, tmp_path, changed, on_change="fail")

    assert (failed.skipped, failed.rejected) == (0, 1)
    assert "rejected r1: changed since it was pushed; mega only creates" in failed.summary()
    assert writes(crm) == [] and len(crm.store.snapshot()) == 3
    assert ledger(tmp_path / "w.duckdb")["r1"]["status"] == "created"  # still there, once


@pytest.mark.parametrize("dry_run", [False, True], ids=["push", "dry run"])
def test_every_rejected_row_is_in_the_summary_or_a_file_it_names(
    crm: SimulatorServer, tmp_path: Path, dry_run: bool
) -> None:
    few = people(LISTED + 5)
    for row in few[:LISTED]:
        row["email"] = "broken"
    listed = to_mega(crm, tmp_path, few, dry_run=dry_run).summary()
    assert all(f"rejected r{i}: contact_email" in listed for i in range(LISTED))

    many = people(60)
    for row in many[:45]:
        row["email"] = "broken"

    summary = to_mega(crm, tmp_path, many, dry_run=dry_run).summary()

    details = tmp_path / "w.duckdb.push_mega.txt"
    assert summary.splitlines()[-1].endswith(f"rows rejected or skipped, and why: {details}")
    assert details.read_text().splitlines() == [
        f"rejected r{i}: contact_email is not an email address" for i in range(45)
    ]


def test_a_dry_run_prints_a_json_line_per_row_that_jq_reads(
    crm: SimulatorServer, tmp_path: Path
) -> None:
    to_mega(crm, tmp_path, people(2))
    rows = people(4)
    rows[1]["name"] = "changed"
    rows[3]["email"] = "broken"
    write_csv(tmp_path / "rows.csv", rows)
    env = {
        **os.environ,
        "DESTINATION__MEGA__BASE_URL": crm.url,
        "DESTINATION__MEGA__API_TOKEN": DEFAULT_TOKEN,
        "DESTINATION__MEGA__CUSTOMER_ID": DEFAULT_CUSTOMER_ID,
    }
    crm.clear_requests()

    done = run_push_cli(
        env, "--target", "mega", "--file", str(tmp_path / "rows.csv"), "--map", MAP,
        "--duckdb-file", str(tmp_path / "w.duckdb"), "--dry-run",
    )  # fmt: skip

    assert done.returncode == 3, done.stderr
    jq = subprocess.run(
        ["jq", "-c", "[.key, .action]"], input=done.stdout, capture_output=True, text=True
    )
    assert jq.returncode == 0, jq.stderr
    assert jq.stdout.splitlines() == [
        '["r0","unchanged"]', '["r1","skip"]', '["r2","create"]', '["r3","reject"]'
    ]  # fmt: skip
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[2]["payload"] == {"contact_name": "P 2", "contact_email": "p2@example.com"}
    assert lines[3]["reason"] == "contact_email is not an email address"
    assert "mega: 4 rows:" in done.stderr and crm.requests == []


def test_outcomes_reach_the_ledger_while_the_push_goes_on(
    crm: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push killed at row N resends only what the ledger had not recorded: with the time bound
    at zero every outcome is written as it arrives (by default within FLUSH_SECONDS)."""
    monkeypatch.setattr("push_targets.core.push.FLUSH_SECONDS", 0.0)
    seen: list[int] = []

    def ledger_rows(store: Any) -> None:  # what a crash at this request would leave
        with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
            (count,) = con.execute("SELECT count(*) FROM push._push_ledger").fetchall()[0]
            seen.append(count)

    crm.faults.add(faults.callback(ledger_rows), method="POST", times=1000)

    to_mega(crm, tmp_path, people(40), concurrency=1)

    assert seen == list(range(40))  # every earlier row recorded before the next is sent


def test_the_readmes_python_example_runs_as_written(crm: SimulatorServer, tmp_path: Path) -> None:
    readme = (PROJECT / "README.md").read_text()
    section = readme[readme.index("## Pushing leads into a CRM") :]
    start = section.index("```python\n") + len("```python\n")
    example = section[start : section.index("```", start)]
    project = tmp_path / "project"
    (project / "dlt_config").mkdir(parents=True)
    with duckdb.connect(str(project / "mega_leads.duckdb")) as con:
        con.execute("CREATE SCHEMA mega")
        con.execute("CREATE TABLE mega.leads AS SELECT 'm' || i AS id, 'Lead ' || i AS "
                    "contact_name FROM range(3) t(i)")  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    env.update(
        PYTHONPATH=str(PROJECT),
        MEGA_DLT_CONFIG_DIR=str(project / "dlt_config"),
        DLT_DATA_DIR=str(tmp_path / "dlt"),
        RUNTIME__DLTHUB_TELEMETRY="false",
        DESTINATION__MEGA__BASE_URL=crm.url,
        DESTINATION__MEGA__API_TOKEN=DEFAULT_TOKEN,
        DESTINATION__MEGA__CUSTOMER_ID=DEFAULT_CUSTOMER_ID,
    )

    done = subprocess.run(
        [sys.executable, "-c", example], env=env, cwd=elsewhere, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "mega: 3 rows: 3 created" in done.stdout
    assert sorted(lead["contact_name"] for lead in crm.store.snapshot()) == [
        "Ana Lima", "Lead 0", "Lead 1", "Lead 2"
    ]  # fmt: skip
    assert ledger(project / "push_ledger.duckdb")["r1"]["status"] == "created"
    assert list(elsewhere.iterdir()) == []
