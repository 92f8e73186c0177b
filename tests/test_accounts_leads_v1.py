"""Leads v1 with several accounts in one dataset: each account's sweep judges deletes among its
own organization's rows only (before, another organization's rows would have looked deleted)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from simulators import leads_v1
from simulators.leads_v1 import LeadsV1Server
from tests.helpers import PROJECT, environ_without_settings
from tests.helpers.accounts import accounts_env

NAMES = ("north", "south")


@pytest.fixture
def orgs_sim() -> Iterator[LeadsV1Server]:
    accounts = [leads_v1.account(name, 120 + 40 * i, seed=i + 1) for i, name in enumerate(NAMES)]
    with LeadsV1Server(accounts=accounts) as sim:
        yield sim


def env_for(sim: LeadsV1Server, root: Path, with_org: bool = True) -> dict[str, str]:
    clean = environ_without_settings()
    env = {
        **clean,
        **accounts_env(sim, NAMES, "leads_v1", "organization_id" if with_org else None),
        "DESTINATION__DUCKDB__CREDENTIALS": str(root / "leads.duckdb"),
        "DLT_DATA_DIR": str(root / "dlt"),
    }
    return env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.leads_v1", "-q", *args],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def loaded(root: Path) -> dict[str, dict[str, Any]]:
    """organization_id -> {id: (updated_at, deleted)} of every row."""
    with duckdb.connect(str(root / "leads.duckdb"), read_only=True) as con:
        rows = con.sql(
            "SELECT organization_id, id, _deleted_at IS NOT NULL FROM leads_v1.leads"
        ).fetchall()
    found: dict[str, dict[str, Any]] = {}
    for org, lead_id, deleted in rows:
        assert lead_id not in found.setdefault(org, {}), lead_id
        found[org][lead_id] = deleted
    return found


def truth(sim: LeadsV1Server, deleted: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Each organization's leads, live; ``deleted``: lead id -> organization of rows deleted."""
    expected: dict[str, dict[str, Any]] = {}
    for name in NAMES:
        org = sim.account(name).tenant_id
        expected[org] = {lead["id"]: False for lead in sim.store.leads(org)}
    for lead_id, org in (deleted or {}).items():
        expected[org][lead_id] = True
    return expected


def test_each_organization_judges_deletes_among_its_own_rows(
    orgs_sim: LeadsV1Server, tmp_path: Path
) -> None:
    env = env_for(orgs_sim, tmp_path)
    first = cli(env)
    assert first.returncode == 0, first.stderr
    assert [line.split(": ")[0] for line in first.stdout.splitlines()] == list(NAMES)
    assert loaded(tmp_path) == truth(orgs_sim)

    north = orgs_sim.account("north").tenant_id
    gone = str(orgs_sim.store.leads(north)[3]["id"])
    assert orgs_sim.store.delete(gone)
    second = cli(env)

    assert second.returncode == 0, second.stderr
    lines = second.stdout.splitlines()
    assert "1 deleted at the source" in lines[0] and "deleted" not in lines[1]
    assert loaded(tmp_path) == truth(orgs_sim, {gone: north})


def test_an_account_without_its_organization_is_refused(
    orgs_sim: LeadsV1Server, tmp_path: Path
) -> None:
    refused = cli(env_for(orgs_sim, tmp_path, with_org=False), "--account", "south")

    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "leads-v1: error: SOURCES__LEADS_V1__ACCOUNTS__SOUTH__ORGANIZATION_ID is required: each "
        "account sets its own (not SOURCES__LEADS_V1__ORGANIZATION_ID, the single account's)"
    )
    assert orgs_sim.requests == []
