"""The sources the contract suite (``test_contract.py``) runs against, one declaration each: how
to start its simulator, plant a fault, run it (CLI or ``run()``) and read its warehouse.

A new source gets the whole suite by adding its entry to ``SOURCES`` (later: by registering).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
import duckdb

from pipelines.result import RunResult
from simulators.mega import ManualClock
from tests import helpers as mega
from tests.helpers import PROJECT
from tests.helpers import leads_v1 as v1


@dataclass(frozen=True)
class SourceUnderTest:
    name: str  # the dlt source, its dataset and schema
    prog: str  # the CLI's name, which starts its error lines
    module: str  # ``python -m`` runs the CLI
    pipeline: str  # the pipeline's name
    manifest: str  # the table of run rows
    env_prefix: str  # of its settings' variables
    page: int  # leads per list page
    # Requests to the list path before the sweep's first page (a backfill's probe).
    first_page_after: int
    items_key: str  # the list answer's items
    make_sim: Callable[[ManualClock, int], Any]
    cli_env: Callable[[Any, Path], dict[str, str]]
    run: Callable[..., RunResult]  # (root, sim, **options): run() into the root's files
    list_order: Callable[[Any], list[str]]  # the source's ids in the order the sweep lists them
    bad_setting: tuple[str, str]  # a variable and a value its checks refuse
    pii_column: str  # a personal-data column (an email)
    pii_values: Callable[[Any], list[str]]  # that column's values at the source

    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", self.module, *args]

    def run_cli(self, sim: Any, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.cli("-q", *args),
            env=self.cli_env(sim, root),
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=180,
        )

    def at_page(self, page: int) -> int:
        """The fault's ``after``: list requests answered before page ``page`` is asked for."""
        return self.first_page_after + page - 1

    def query(self, root: Path, sql: str) -> list[tuple[Any, ...]]:
        path = root / "leads.duckdb"
        if not path.exists():
            return []
        with duckdb.connect(str(path), read_only=True) as con:
            return con.sql(sql).fetchall()

    def loaded_ids(self, root: Path) -> list[str]:
        """The live lead ids loaded, with repeats (a duplicate shows)."""
        tables = self.query(
            root,
            "SELECT table_name FROM information_schema.tables "
            f"WHERE table_schema = '{self.name}' AND table_name = 'leads'",
        )
        if not tables:
            return []
        rows = self.query(root, f"SELECT id FROM {self.name}.leads WHERE _deleted_at IS NULL")
        return [row[0] for row in rows]

    def first_pages_ids(self, sim: Any, pages: int) -> set[str]:
        return set(self.list_order(sim)[: pages * self.page])

    def assert_exact(self, root: Path, sim: Any) -> None:
        if self.name == "mega":
            mega.assert_exact(mega.Warehouse(root, sim), sim)
        else:
            v1.assert_exact(v1.V1Warehouse(root, sim), sim)
        ids = self.loaded_ids(root)
        assert len(ids) == len(set(ids))

    def runs(self, root: Path) -> list[tuple[str, int]]:
        return self.query(
            root, f"SELECT outcome, pages FROM {self.name}.{self.manifest} ORDER BY started_at"
        )

    def has_pending(self, root: Path) -> bool:
        pipeline = dlt.attach(
            self.pipeline,
            pipelines_dir=str(root / "pipelines"),
            destination=dlt.destinations.duckdb(str(root / "leads.duckdb")),
        )
        return bool(pipeline.has_pending_data)

    def list_requests(self, sim: Any) -> list[dict[str, str]]:
        return [r.query for r in sim.requests if r.method == "GET" and r.path == self.list_path]

    @property
    def list_path(self) -> str:
        return "/api/agents/crm/leads" if self.name == "mega" else v1.LIST_PATH


class SignalledRun:
    """A process in its own process group, which a simulator hook can signal."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def send(self, sig: int, group: bool = False) -> Any:
        def send(store: Any) -> None:
            (os.killpg if group else os.kill)(self.proc.pid, sig)
            if sig == signal.SIGKILL:
                self.proc.wait(timeout=30)  # dead before this page is answered

        return send

    def finish(self) -> tuple[int, list[str]]:
        try:
            _, stderr = self.proc.communicate(timeout=120)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return self.proc.returncode, stderr.splitlines()


class CliRun(SignalledRun):
    """A source's CLI run; ``settings`` are its settings' variables, lower-cased, unprefixed."""

    def __init__(
        self, source: SourceUnderTest, api: Any, root: Path, *args: str, **settings: str
    ) -> None:
        env = source.cli_env(api, root)
        prefix = source.env_prefix
        env.update({f"{prefix}{name.upper()}": value for name, value in settings.items()})
        super().__init__(source.cli("-q", *args), env)


def _mega_order(sim: Any) -> list[str]:
    return [lead["id"] for lead in mega.keyset_order(sim)]


def _v1_order(sim: Any) -> list[str]:
    leads = sorted(sim.store.leads(), key=lambda lead: (lead["created_at"], lead["id"]))
    return [lead["id"] for lead in leads]


MEGA = SourceUnderTest(
    name="mega",
    prog="mega-leads",
    module="pipelines.mega_leads",
    pipeline="mega_leads",
    manifest="_mega_runs",
    env_prefix="SOURCES__MEGA__",
    page=mega.PAGE,
    first_page_after=mega.PROBE,
    items_key="leads",
    make_sim=lambda clock, n: mega.make_sim(clock, n, seed=13),
    cli_env=mega.cli_env,
    run=lambda root, sim, **options: mega.Warehouse(root, sim).run(**options),
    list_order=_mega_order,
    bad_setting=("SOURCES__MEGA__CHECKPOINT_PAGES", "0"),
    pii_column="contact_email",
    pii_values=lambda sim: [lead["contact_email"] for lead in sim.store.snapshot()],
)

LEADS_V1 = SourceUnderTest(
    name="leads_v1",
    prog="leads-v1",
    module="pipelines.leads_v1",
    pipeline="leads_v1",
    manifest="_leads_v1_runs",
    env_prefix="SOURCES__LEADS_V1__",
    page=v1.PAGE,
    first_page_after=0,
    items_key="data",
    make_sim=lambda clock, n: v1.make_v1_sim(clock, n),
    cli_env=v1.cli_env,
    run=lambda root, sim, **options: v1.V1Warehouse(root, sim).run(**options),
    list_order=_v1_order,
    bad_setting=("SOURCES__LEADS_V1__DETAIL_CONCURRENCY", "0"),
    pii_column="email",
    pii_values=lambda sim: [lead["email"] for lead in sim.store.leads()],
)

SOURCES = [MEGA, LEADS_V1]
