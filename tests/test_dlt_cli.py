"""dlt's own tools keep working on the connector's pipelines: `dlt pipeline <name> info`,
`trace` and `schema` on a loaded pipeline of each source, without the token in their output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simulators.leads_v1 import DEFAULT_TOKEN as LEADS_V1_TOKEN
from simulators.mega import DEFAULT_TOKEN
from tests.helpers import PROJECT, Warehouse
from tests.helpers.leads_v1 import V1Warehouse


def dlt_cli(pipelines_dir: Path, name: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "dlt",
            "pipeline",
            "--pipelines-dir",
            str(pipelines_dir),
            name,
            command,
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("source", ["mega", "leads_v1"])
def test_info_trace_and_schema_read_a_loaded_pipeline(
    source: str, warehouse: Warehouse, v1_warehouse: V1Warehouse
) -> None:
    if source == "mega":
        warehouse.run()
        pipelines_dir, name, token = warehouse.pipelines_dir, "mega_leads", DEFAULT_TOKEN
    else:
        v1_warehouse.run()
        pipelines_dir, name, token = v1_warehouse.pipelines_dir, "leads_v1", LEADS_V1_TOKEN

    info = dlt_cli(pipelines_dir, name, "info")
    trace = dlt_cli(pipelines_dir, name, "trace")
    schema = dlt_cli(pipelines_dir, name, "schema")

    for result in (info, trace, schema):
        assert result.returncode == 0, result.stderr
        assert token not in result.stdout + result.stderr
    assert f"pipeline_name: {name}" in info.stdout
    assert "COMPLETED" in trace.stdout and "leads" in trace.stdout
    assert "leads:" in schema.stdout and "updated_at:" in schema.stdout
