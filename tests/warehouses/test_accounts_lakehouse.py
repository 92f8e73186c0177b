"""Four accounts loading one lakehouse dataset at once, each its own process (``mega-leads
--account NAME --destination filesystem``), two rounds: every account's rows equal its leads.
Without the dataset's lock (warehouses/dataset_lock.py) Iceberg lost all but one account's rows,
every run reporting success."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators import mega
from simulators.mega import SimulatorServer
from tests.helpers import PROJECT, environ_without_settings
from tests.helpers.accounts import accounts_env
from tests.s3 import S3Server
from tests.warehouse_readers import FilesystemReader
from tests.warehouses.bucket_reader import BucketReader

NAMES = tuple(f"account_{n}" for n in range(1, 5))


def run_all_at_once(env: dict[str, str], table_format: str) -> dict[str, tuple[int, str]]:
    argv = [sys.executable, "-m", "pipelines.mega_leads", "-q", "--destination", "filesystem"]
    processes = {
        name: subprocess.Popen(
            [*argv, "--table-format", table_format, "--account", name],
            env={**environ_without_settings(), **env},
            cwd=PROJECT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in NAMES
    }
    errors = {name: p.communicate(timeout=300)[1] for name, p in processes.items()}
    return {name: (processes[name].returncode, err) for name, err in errors.items()}


def loaded(reader: Any) -> dict[str, dict[str, str]]:
    """customer_id -> {lead id: updated_at} of the live leads (a duplicate fails)."""
    found: dict[str, dict[str, str]] = {}
    for row in reader.rows("leads"):
        if row["_deleted_at"] is None:
            leads = found.setdefault(row["customer_id"], {})
            assert row["id"] not in leads, row["id"]
            leads[row["id"]] = row["updated_at"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:23]
    return found


def truth(sim: Any) -> dict[str, dict[str, str]]:
    return {
        sim.account(name).tenant_id: {
            lead["id"]: lead["updated_at"][:23] for lead in sim.store_of(name).snapshot()
        }
        for name in NAMES
    }


@pytest.fixture
def sim() -> Iterator[Any]:
    accounts = [mega.account(name, 400 + 50 * i, seed=i + 1) for i, name in enumerate(NAMES)]
    with SimulatorServer(accounts=accounts) as server:
        yield server


def two_rounds_exact(sim: Any, env: dict[str, str], table_format: str, reader: Any) -> None:
    env = {**accounts_env(sim, NAMES, "mega"), **env}
    for round_ in range(2):
        if round_:
            for name in NAMES:
                sim.store_of(name).touch(20, seed=3)
        finished = run_all_at_once(env, table_format)
        assert {name: err for name, (code, err) in finished.items() if code} == {}
        assert loaded(reader) == truth(sim)


def test_four_accounts_at_once_into_one_local_iceberg_dataset(sim: Any, tmp_path: Path) -> None:
    bucket = tmp_path / "lake"
    env = {"DESTINATION__FILESYSTEM__BUCKET_URL": str(bucket), "DLT_DATA_DIR": str(tmp_path)}
    two_rounds_exact(sim, env, "iceberg", FilesystemReader(bucket))


# Delta here only on S3 (scripts/test-object-storage): the same lock, and scripts/test's time.
@pytest.mark.object_storage
@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_four_accounts_at_once_into_one_dataset_on_s3(
    sim: Any, s3: S3Server, tmp_path: Path, table_format: str
) -> None:
    bucket = s3.new_bucket()
    env = {**bucket.settings(), "DLT_DATA_DIR": str(tmp_path)}
    two_rounds_exact(sim, env, table_format, BucketReader(bucket))
    # Let go after each load: no lock left behind.
    assert not bucket.filesystem().exists(f"{bucket.name}/{bucket.prefix}/mega.lock")
