"""Every destination: the run manifest, one typed row per run; a wrong token is one line,
exit 1, and loads nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipelines.result import RunFailed
from simulators.core import faults
from simulators.mega import SimulatorServer
from tests.helpers import (
    MANIFEST_FIELDS,
    PROJECT,
    as_row,
    cli,
    list_requests,
)
from tests.warehouses.target import (
    MANIFEST_COLUMNS,
    Target,
    assert_exact,
    assert_row_equal,
    make_target,
)


def test_manifest_has_one_typed_row_per_run(target: Target) -> None:
    backfill = target.run(checkpoint_pages=2)
    target.sim.store.update(target.sim.store.ids()[0], status="won")
    target.sim.faults.add(faults.status(503), times=None, after=0)
    with pytest.raises(RunFailed) as failed:
        target.run(checkpoint_pages=1)
    target.sim.faults.clear()
    recovery = target.run(checkpoint_pages=1)

    rows = target.manifest()
    results = [backfill, failed.value.result, recovery]
    assert [row["outcome"] for row in rows] == ["success", "failed", "success"]
    loaded = [{name: row.get(name) for name in MANIFEST_FIELDS} for row in rows]
    for got, result in zip(loaded, results, strict=True):
        assert_row_equal(got, as_row(result), result.run_id)
    columns = target.reader.columns("_mega_runs")
    assert set(MANIFEST_COLUMNS) <= set(columns), set(MANIFEST_COLUMNS) - set(columns)
    assert [name for name in columns if "__v_" in name] == []
    assert_exact(target)


@pytest.fixture(params=["duckdb", "postgres", "sqlite", "mariadb"])
def sql_target(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sim: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Target:
    """A destination whose dlt tables (`_dlt_loads`) are tables the reader can read."""
    return make_target(request, tmp_path, sim, monkeypatch)


def test_a_first_run_is_its_loads_with_the_manifest_row_after_them(sql_target: Target) -> None:
    """The first run's manifest row goes in by SQL too, not by one more dlt run: the table is
    made by a zero-row stub riding along with the first load (as CSV on Postgres, where ADBC
    cannot load zero rows)."""
    result = sql_target.run()

    loads = sql_target.reader.rows("_dlt_loads")
    assert sorted(row["load_id"] for row in loads) == result.load_ids
    (row,) = sql_target.manifest()
    assert (row["run_id"], row["_dlt_load_id"]) == (result.run_id, result.load_ids[-1])
    assert_exact(sql_target)


def test_wrong_token_is_one_line_exit_1_and_loads_nothing(target: Target) -> None:
    proc = subprocess.run(
        cli("-q", *target.args),
        env=target.cli_env(token="mega_" + "0" * 64),
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mega-leads: error: authentication failed (401"), lines[0]
    assert proc.stdout == ""
    assert target.reader.rows("leads") == []
    assert target.reader.rows("leads__custom_fields") == []
    assert len(list_requests(target.sim)) == 1
