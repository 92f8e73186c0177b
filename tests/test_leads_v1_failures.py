"""The Leads v1 source when things go wrong: rate limits and outages retried, a failed or
killed run committing what it handled and resumed by the next, one-line errors with exit codes,
the detail requests' concurrency, and the token kept out of every artefact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipelines.result import RunFailed
from simulators.core import faults
from simulators.leads_v1 import DEFAULT_TOKEN, LeadsV1Server, ManualClock
from sources.core.errors import ConfigurationError
from tests.helpers import PROJECT
from tests.helpers.concurrency import InFlight
from tests.helpers.leads_v1 import (
    DETAIL_PATH,
    V1Warehouse,
    assert_exact,
    cli_env,
    make_v1_sim,
    pages_of,
    requests_to,
    run_cli,
)

N = 450


def test_rate_limits_and_outages_are_retried(
    v1_warehouse: V1Warehouse, v1_sim: LeadsV1Server
) -> None:
    v1_sim.faults.add(faults.status(503), times=2)
    v1_sim.faults.add(faults.rate_limited(retry_after=1), times=3, path=DETAIL_PATH)
    v1_sim.faults.add(faults.drop(), times=1, path=DETAIL_PATH, after=50)

    result = v1_warehouse.run()

    assert result.outcome == "success"
    assert result.retries == 6
    assert_exact(v1_warehouse, v1_sim)


def test_a_failed_run_commits_its_pages_and_the_rerun_resumes_from_the_cursor(
    v1_warehouse: V1Warehouse, v1_sim: LeadsV1Server
) -> None:
    # A detail of page 2 fails beyond the retries (five tries): page 1 is committed.
    v1_sim.faults.add(faults.status(503), times=5, path=DETAIL_PATH, after=200)

    with pytest.raises(RunFailed) as failed:
        v1_warehouse.run(checkpoint_pages=1, detail_concurrency=1)

    assert "503" in str(failed.value) and "\n" not in str(failed.value)
    assert len(v1_warehouse.live()) == 200
    assert failed.value.result.outcome == "failed"
    v1_sim.clear_requests()

    v1_warehouse.run(checkpoint_pages=1)

    lists = requests_to(v1_sim, "list")
    assert "cursor" in lists[0].query  # resumed, not begun again
    assert len(lists) == pages_of(N) - 1
    assert len(requests_to(v1_sim, "detail")) == N - 200
    assert_exact(v1_warehouse, v1_sim)


@pytest.mark.parametrize("kill_at_detail", [150, 350])
def test_a_cli_run_killed_at_any_page_is_exact_after_the_rerun(
    tmp_path: Path, v1_sim: LeadsV1Server, kill_at_detail: int
) -> None:
    procs: list[subprocess.Popen[str]] = []

    def kill(store: Any) -> None:
        os.kill(procs[0].pid, signal.SIGKILL)
        procs[0].wait(timeout=30)

    v1_sim.faults.add(faults.callback(kill), path=DETAIL_PATH, after=kill_at_detail)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.leads_v1", "--checkpoint-pages", "1"],
        env=cli_env(v1_sim, tmp_path),
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(proc)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    warehouse = V1Warehouse(tmp_path, v1_sim)
    committed = len(warehouse.live())
    assert committed == 200 * (kill_at_detail // 200)  # whole pages only, never ahead
    v1_sim.clear_requests()

    result = run_cli(cli_env(v1_sim, tmp_path), "--checkpoint-pages", "1")

    assert result.returncode == 0, result.stderr
    assert len(requests_to(v1_sim, "detail")) == N - committed
    assert_exact(warehouse, v1_sim)


def test_details_are_fetched_with_k_requests_in_flight(tmp_path: Path, clock: ManualClock) -> None:
    in_flight = InFlight()
    with make_v1_sim(clock, 120) as sim:
        sim.faults.add(faults.callback(in_flight), path=DETAIL_PATH, times=1000)
        V1Warehouse(tmp_path / "k4", sim).run(detail_concurrency=4)
        assert in_flight.most == 4
        in_flight.most = 0
        V1Warehouse(tmp_path / "k1", sim).run(detail_concurrency=1)
        assert in_flight.most == 1


def test_bad_settings_are_one_line_before_any_request(
    v1_warehouse: V1Warehouse, v1_sim: LeadsV1Server, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="SOURCES__LEADS_V1__DETAIL_CONCURRENCY"):
        v1_warehouse.run(detail_concurrency=0)
    with pytest.raises(ConfigurationError, match="SOURCES__LEADS_V1__DELETE_MODE"):
        v1_warehouse.run(delete_mode="sometimes")
    with pytest.raises(ConfigurationError, match="unknown source option"):
        v1_warehouse.run(workers=2)
    env = cli_env(v1_sim, tmp_path)
    del env["SOURCES__LEADS_V1__BASE_URL"]
    missing = run_cli(env)
    assert missing.returncode == 2
    assert "missing base_url: set SOURCES__LEADS_V1__BASE_URL" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    assert v1_sim.requests == []


def test_a_rejected_token_is_exit_1_in_one_line_and_never_written(
    v1_sim: LeadsV1Server, tmp_path: Path
) -> None:
    secret = "not-the-token-0123456789"
    rejected = run_cli(cli_env(v1_sim, tmp_path, token=secret))
    assert rejected.returncode == 1
    assert "401" in rejected.stderr and secret not in rejected.stderr + rejected.stdout

    ok = run_cli(cli_env(v1_sim, tmp_path), "--detail-concurrency", "3")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("success: 450 leads")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert DEFAULT_TOKEN.encode() not in data and secret.encode() not in data, path


def test_each_run_leaves_a_manifest_row(v1_warehouse: V1Warehouse, v1_sim: LeadsV1Server) -> None:
    v1_warehouse.run()
    v1_sim.store.delete(v1_sim.store.leads()[7]["id"])
    v1_warehouse.run()

    rows = v1_warehouse.query(
        "SELECT outcome, leads, details, deleted FROM leads_v1._leads_v1_runs ORDER BY started_at"
    )
    assert rows == [("success", N, N, 0), ("success", N - 1, 0, 1)]


def test_a_refused_token_names_its_variable_and_where_it_was_read(
    v1_sim: LeadsV1Server, tmp_path: Path
) -> None:
    token = "lv1_" + "f" * 40
    result = run_cli(cli_env(v1_sim, tmp_path, token=token), "--quiet")
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("leads-v1: error: authentication failed (401 "), line
    assert line.endswith("; check SOURCES__LEADS_V1__API_TOKEN (read from the environment)"), line
    assert token not in result.stderr + result.stdout
