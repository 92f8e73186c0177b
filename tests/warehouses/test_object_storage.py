"""The filesystem destination on an S3 bucket (moto's server): a new machine restores the state
and schema from the bucket and loads nothing twice; a bucket out of reach fails the run with one
error line that names the cause and carries no secret."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from simulators.mega import SimulatorServer
from tests.helpers import PROJECT, cli, cli_env, list_requests
from tests.postgres import free_port
from tests.s3 import SECRET_ACCESS_KEY, S3Server
from tests.warehouses.target import Target, assert_exact, make_target


@pytest.fixture(params=["s3-delta", "s3-iceberg"])
def s3_target(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sim: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Target:
    return make_target(request, tmp_path, sim, monkeypatch)


def test_a_new_machine_restores_the_state_from_the_bucket(s3_target: Target) -> None:
    s3_target.run()
    s3_target.sim.store.update(s3_target.sim.store.ids()[0], status="won")
    shutil.rmtree(s3_target.pipelines_dir)
    s3_target.sim.clear_requests()

    again = s3_target.run()

    assert (again.outcome, again.leads) == ("success", 1)
    assert len(list_requests(s3_target.sim)) == 1
    assert_exact(s3_target)


@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_a_bucket_out_of_reach_is_one_error_line_without_the_secret(
    table_format: str, tmp_path: Path, sim: SimulatorServer, s3: S3Server
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    env = {
        **cli_env(sim, tmp_path),
        **s3.new_bucket().settings(),
        "DESTINATION__FILESYSTEM__CREDENTIALS__ENDPOINT_URL": closed,
        "AWS_MAX_ATTEMPTS": "1",  # botocore's retries, for the test's time only
    }

    proc = subprocess.run(
        cli("--destination", "filesystem", "--table-format", table_format),
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert all(line.startswith("mega-leads: ") for line in lines), proc.stderr
    assert lines[-1].startswith("mega-leads: error: "), lines
    assert "Could not connect to the endpoint URL" in lines[-1], lines[-1]
    assert SECRET_ACCESS_KEY not in proc.stderr + proc.stdout
    assert list_requests(sim) == []  # the state is read from the bucket before the API
