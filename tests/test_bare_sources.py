"""The thin dlt sources on their own, as a user's `pipeline.run(mega())` or dagster-dlt's
`@dlt_assets` call them, with the project's settings folder registered: dlt resolves a source
function's arguments from config, so none may be named like a section of `config.toml` (its
`[load]` section once reached `mega(load=…)` as a dict)."""

from __future__ import annotations

from pathlib import Path

import dlt
import duckdb

from simulators.leads_v1 import DEFAULT_TOKEN as V1_TOKEN
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, ManualClock
from sources.core.dlt_config import configure_dlt
from sources.leads_v1 import leads_v1
from sources.mega import mega
from tests.helpers import make_sim
from tests.helpers.leads_v1 import make_v1_sim


def _leads_loaded(path: Path, dataset: str) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.sql(f"SELECT count(*) FROM {dataset}.leads").fetchall()
    return int(rows[0][0])


def test_the_bare_sources_load_every_lead(tmp_path: Path, clock: ManualClock) -> None:
    configure_dlt()  # as importing an entrypoint does
    path = tmp_path / "bare.duckdb"
    with make_sim(clock, 150) as sim:
        pipeline = dlt.pipeline(
            "bare_mega", destination=dlt.destinations.duckdb(str(path)), dataset_name="bare_mega",
            pipelines_dir=str(tmp_path / "p"),
        )  # fmt: skip
        pipeline.run(
            mega(base_url=sim.url, api_token=DEFAULT_TOKEN, customer_id=DEFAULT_CUSTOMER_ID)
        )
        assert _leads_loaded(path, "bare_mega") == 150
    with make_v1_sim(clock, 120) as v1:
        pipeline = dlt.pipeline(
            "bare_v1", destination=dlt.destinations.duckdb(str(path)), dataset_name="bare_v1",
            pipelines_dir=str(tmp_path / "p"),
        )  # fmt: skip
        pipeline.run(leads_v1(base_url=v1.url, api_token=V1_TOKEN))
        assert _leads_loaded(path, "bare_v1") == 120
