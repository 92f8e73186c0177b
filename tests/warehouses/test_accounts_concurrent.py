"""Eight accounts loading one PostgreSQL dataset at once, each its own process (as an
orchestrator's workers run them: ``mega-leads --account NAME``), one of them revoked: every
other account's rows equal its leads, none lost to another's merge, the revoked one fails alone.
Then a second round at once, each with changes, stays exact."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg2

from simulators import mega
from simulators.mega import SimulatorServer
from tests.helpers import PROJECT, environ_without_settings
from tests.helpers.accounts import AccountsWarehouse, accounts_env
from tests.warehouses.target import new_database

NAMES = tuple(f"account_{n}" for n in range(1, 9))
REVOKED = "account_5"


def start(name: str, env: dict[str, str]) -> subprocess.Popen[str]:
    clean = environ_without_settings()
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipelines.mega_leads",
            "-q",
            "--destination",
            "postgres",
            "--account",
            name,
        ],
        env={**clean, **env},
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_all_at_once(env: dict[str, str]) -> dict[str, tuple[int, str, str]]:
    processes = {name: start(name, env) for name in NAMES}
    finished = {}
    for name, process in processes.items():
        out, err = process.communicate(timeout=240)
        finished[name] = (process.returncode, out, err)
    return finished


def test_eight_accounts_at_once_into_one_postgres(postgres_cluster: str, tmp_path: Path) -> None:
    url = new_database(postgres_cluster)
    accounts = [mega.account(name, 300 + 20 * i, seed=i + 1) for i, name in enumerate(NAMES)]
    with SimulatorServer(accounts=accounts) as sim:
        env = {
            **accounts_env(sim, NAMES, "mega"),
            "DESTINATION__POSTGRES__CREDENTIALS": url,
            "DLT_DATA_DIR": str(tmp_path / "dlt"),
        }
        sim.revoke(REVOKED)

        first = run_all_at_once(env)

        live = tuple(name for name in NAMES if name != REVOKED)
        for name in live:
            code, out, err = first[name]
            assert code == 0, (name, err)
            assert out.startswith(f"{name}: success: "), out
        code, _, err = first[REVOKED]
        assert code == 1
        assert err.startswith("mega-leads: error: ") and "401" in err
        warehouse = AccountsWarehouse(sim, url)
        assert warehouse.loaded() == warehouse.truth(live)

        # A second round at once, every account with changes, the revoked one back.
        sim.reinstate(REVOKED)
        for name in NAMES:
            sim.store_of(name).touch(5, seed=3)
        second = run_all_at_once(env)

        assert {name: run[2] for name, run in second.items() if run[0]} == {}
        assert warehouse.loaded() == warehouse.truth(NAMES)
        with psycopg2.connect(url) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT account, outcome FROM mega._mega_runs ORDER BY started_at")
            runs = cursor.fetchall()
        # A row per run of each account, the revoked one's first run failed.
        assert sorted(runs) == sorted(
            [(name, "success") for name in NAMES]
            + [(name, "failed" if name == REVOKED else "success") for name in NAMES]
        )
