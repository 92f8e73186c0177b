"""Several accounts of one source (README: Many accounts), configured as a user would
(``SOURCES__MEGA__ACCOUNTS__<NAME>__…``), against one simulator serving each account its own
customer, leads and rate-limit budget; the warehouse compared with each account's leads."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from pipelines import mega_leads
from simulators import mega
from simulators.mega import SimulatorServer
from tests.helpers import PROJECT, environ_without_settings
from tests.helpers.accounts import accounts_env as helper_accounts_env
from tests.helpers.lakehouse import DeltaBucket

NAMES = ("acme", "globex", "initech")


@pytest.fixture
def accounts_sim() -> Iterator[SimulatorServer]:
    accounts = [mega.account(name, 150 + 50 * i, seed=i + 1) for i, name in enumerate(NAMES)]
    with SimulatorServer(accounts=accounts) as sim:
        yield sim


def accounts_env(
    sim: SimulatorServer, root: Path, names: tuple[str, ...] = NAMES
) -> dict[str, str]:
    """What a user exports: the shared address once, each account's token and customer."""
    return {
        **helper_accounts_env(sim, names, "mega"),
        "DESTINATION__DUCKDB__CREDENTIALS": str(root / "leads.duckdb"),
        "DLT_DATA_DIR": str(root / "dlt"),
    }


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = environ_without_settings()
    return subprocess.run(
        [sys.executable, "-m", "pipelines.mega_leads", *args],
        env={**clean, **env},
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def query(root: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(root / "leads.duckdb"), read_only=True) as con:
        return con.sql(sql).fetchall()


def loaded(root: Path) -> dict[str, dict[str, str]]:
    """customer_id -> {lead id: updated_at} of the live leads loaded."""
    rows = query(
        root,
        "SELECT customer_id, id, strftime(updated_at, '%Y-%m-%dT%H:%M:%S.%g') FROM mega.leads "
        "WHERE _deleted_at IS NULL",
    )
    found: dict[str, dict[str, str]] = {}
    for customer, lead_id, updated_at in rows:
        assert lead_id not in found.setdefault(customer, {}), lead_id  # no duplicate
        found[customer][lead_id] = updated_at
    return found


def truth(sim: SimulatorServer, names: tuple[str, ...] = NAMES) -> dict[str, dict[str, str]]:
    return {
        sim.account(name).tenant_id: {
            lead["id"]: lead["updated_at"][:23] for lead in sim.store_of(name).snapshot()
        }
        for name in names
    }


def test_each_account_loads_its_own_leads_into_one_dataset(
    accounts_sim: SimulatorServer, tmp_path: Path
) -> None:
    env = accounts_env(accounts_sim, tmp_path)
    first = cli(env)

    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == list(NAMES)
    assert all(": success: " in line for line in lines)
    assert loaded(tmp_path) == truth(accounts_sim)
    # Each account its own requests: 150, 200, 250 leads at 100 a page; the first into the
    # empty tables also probes for the newest lead (its loads may be appended).
    assert [len(accounts_sim.requests_of(name)) for name in NAMES] == [3, 2, 3]
    runs = query(tmp_path, "SELECT account, outcome, leads FROM mega._mega_runs ORDER BY account")
    assert runs == [
        ("acme", "success", 150),
        ("globex", "success", 200),
        ("initech", "success", 250),
    ]

    # One account's change: every account asks from its own mark, only acme's lead loads.
    accounts_sim.clear_requests()
    changed = accounts_sim.store_of("acme").touch(1, seed=5)
    again = cli(env)

    assert again.returncode == 0, again.stderr
    assert loaded(tmp_path) == truth(accounts_sim)
    assert [
        line.split(": success: ")[1].split(" in ")[0] for line in again.stdout.splitlines()
    ] == [
        "1 lead",
        "0 leads",
        "0 leads",
    ]
    assert len(changed) == 1
    assert all(len(accounts_sim.requests_of(name)) == 1 for name in NAMES)


def test_a_revoked_account_fails_alone_and_a_new_one_backfills(
    accounts_sim: SimulatorServer, tmp_path: Path
) -> None:
    env = accounts_env(accounts_sim, tmp_path, NAMES[:2])
    assert cli(env).returncode == 0
    accounts_sim.store_of("globex").touch(3, seed=9)
    accounts_sim.revoke("acme")

    result = cli(accounts_env(accounts_sim, tmp_path))  # initech added

    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert errors[-1] == "mega-leads: error: 1 of 3 accounts failed: acme"
    assert any(line.startswith("mega-leads: error: acme: ") and "401" in line for line in errors)
    assert accounts_sim.account_settings("acme")["api_token"] not in result.stderr
    summaries = result.stdout.splitlines()
    assert [line.split(": ")[0] for line in summaries] == ["globex", "initech"]
    assert "3 leads" in summaries[0] and "250 leads" in summaries[1]
    # acme's rows as loaded before; the others' as they are now.
    assert loaded(tmp_path) == truth(accounts_sim)


def test_account_runs_one_and_an_account_without_its_own_token_is_refused(
    accounts_sim: SimulatorServer, tmp_path: Path
) -> None:
    env = accounts_env(accounts_sim, tmp_path)
    one = cli(env, "--account", "globex")

    assert one.returncode == 0, one.stderr
    assert one.stdout.startswith("globex: success: 200 leads")
    assert loaded(tmp_path) == truth(accounts_sim, ("globex",))
    assert [len(accounts_sim.requests_of(name)) for name in NAMES] == [0, 3, 0]

    # A token only for the single account: the account would load another customer's leads.
    del env["SOURCES__MEGA__ACCOUNTS__ACME__API_TOKEN"]
    env["SOURCES__MEGA__API_TOKEN"] = accounts_sim.account_settings("globex")["api_token"]
    refused = cli(env, "--account", "acme")

    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "mega-leads: error: SOURCES__MEGA__ACCOUNTS__ACME__API_TOKEN is required: each account "
        "sets its own (not SOURCES__MEGA__API_TOKEN, the single account's)"
    )
    assert len(accounts_sim.requests_of("acme")) == 0


def test_accounts_at_once_on_one_duckdb_file_are_refused_not_corrupted(
    accounts_sim: SimulatorServer, tmp_path: Path
) -> None:
    """DuckDB takes one writer: an account run that finds the file taken fails in one line and
    loses nothing; run again, it loads exactly."""
    env = accounts_env(accounts_sim, tmp_path)
    clean = environ_without_settings()
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-m", "pipelines.mega_leads", "-q", "--account", name],
            env={**clean, **env},
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in NAMES
    }
    outcomes = {name: (p.wait(timeout=180), p.stderr.read()) for name, p in processes.items()}  # type: ignore[union-attr]

    for name, (code, err) in outcomes.items():
        if code != 0:
            assert code == 1, (name, err)
            [line] = err.strip().splitlines()  # one line, naming the file taken
            assert "leads.duckdb" in line and "lock" in line.lower(), line
            assert cli(env, "--account", name).returncode == 0
    assert loaded(tmp_path) == truth(accounts_sim)


def test_a_lead_id_another_account_holds_stops_that_account_not_overwrites(
    accounts_sim: SimulatorServer, tmp_path: Path
) -> None:
    env = accounts_env(accounts_sim, tmp_path, NAMES[:2])
    assert cli(env, "--account", "acme").returncode == 0
    before = loaded(tmp_path)
    # globex's API answers a lead whose id is one of acme's (001 does not say ids are unique
    # across customers).
    taken = dict(accounts_sim.store_of("acme").snapshot()[0])
    taken["customer_id"] = accounts_sim.account("globex").tenant_id
    taken["updated_at"] = "2030-01-01T00:00:00.000Z"
    accounts_sim.store_of("globex").add_many([taken])

    result = cli(env, "--account", "globex")

    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"mega-leads: error: lead id {taken['id']} of account 'globex' is already loaded for "
            "another customer_id"
        )
    )
    assert loaded(tmp_path) == before  # acme's row as it was; nothing of globex's batch


def test_reconcile_and_completeness_judge_each_account_by_its_own_rows(
    accounts_sim: SimulatorServer, tmp_path: Path
) -> None:
    env = accounts_env(accounts_sim, tmp_path)
    assert cli(env).returncode == 0
    gone = accounts_sim.store_of("globex").snapshot()[7]["id"]
    assert accounts_sim.store_of("globex").delete(gone)

    result = cli(env, "--reconcile")

    assert result.returncode == 0, result.stderr
    deleted = [line.split("reconcile: ")[1].split(",")[0] for line in result.stdout.splitlines()]
    assert deleted == ["0 deleted", "1 deleted", "0 deleted"]  # acme, globex, initech
    assert loaded(tmp_path) == truth(accounts_sim)  # live rows: globex's lead is gone
    # Each account's sweep over every lead: the API's total against its own live rows.
    complete = query(
        tmp_path,
        "SELECT account, api_total, warehouse_count FROM mega._mega_runs "
        "WHERE reconciled ORDER BY account",
    )
    assert complete == [("acme", 150, 150), ("globex", 199, 199), ("initech", 250, 250)]


def test_accounts_of_one_delta_dataset_reconcile_their_own_rows(
    accounts_sim: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lakehouse's reads of one account's rows (delta: scanned, not SQL)."""
    for key, value in helper_accounts_env(accounts_sim, NAMES[:2], "mega").items():
        monkeypatch.setenv(key, value)
    bucket = DeltaBucket(tmp_path, accounts_sim)

    def run_all(**options: Any) -> list[Any]:
        return [
            mega_leads.run(
                account=name,
                destination=dlt.destinations.filesystem(bucket_url=bucket.bucket.as_uri()),
                table_format="delta",
                pipelines_dir=str(bucket.pipelines_dir),
                **options,
            )
            for name in NAMES[:2]
        ]

    run_all()
    gone = accounts_sim.store_of("acme").snapshot()[2]["id"]
    assert accounts_sim.store_of("acme").delete(gone)
    acme, globex = run_all(reconcile=True)

    assert (acme.deleted, globex.deleted) == (1, 0)
    assert (acme.api_total, acme.warehouse_count) == (149, 149)
    assert (globex.api_total, globex.warehouse_count) == (200, 200)
    rows = bucket.rows("leads")
    assert rows is not None
    live: dict[str, set[str]] = {}
    for row in rows.select(["customer_id", "id", "_deleted_at"]).to_pylist():
        if row["_deleted_at"] is None:
            live.setdefault(row["customer_id"], set()).add(row["id"])
    assert live == {
        customer: set(leads) for customer, leads in truth(accounts_sim, NAMES[:2]).items()
    }
