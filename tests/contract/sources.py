"""The sources the contract suite (``test_contract.py`` …) runs against: every source in
``pipelines.registry``, each derived from what it declares there (its command, pipeline,
dataset, settings), in ``docs/columns.toml`` (its tables, its email column) and through its
simulator (``simulators.core.source.SourceServer``: list path, items key, page size, list order,
the leads it holds). A new source gets the whole suite by registering.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
import duckdb

from pipelines.column_docs import descriptions
from pipelines.entrypoint import run_source
from pipelines.registry import SOURCES as REGISTERED
from pipelines.registry import Source
from pipelines.result import RunResult
from simulators.core.clock import Clock
from simulators.core.source import SourceServer
from sources.core.config_checks import SettingChecks
from sources.core.dlt_config import configure_dlt
from tests.helpers import PROJECT

from .exact import api_fields, assert_exact, field, table_columns

configure_dlt()

SEED = 13
# A setting of every sweep (``SweepSettings``) and a value its checks refuse.
BAD_SETTING = ("checkpoint_pages", "0")


@dataclass(frozen=True)
class SourceUnderTest:
    entry: Source  # its registry entry

    @property
    def name(self) -> str:  # the dlt source and its schema
        return self.entry.name

    @property
    def dataset(self) -> str:
        return self.entry.dataset

    @property
    def prog(self) -> str:  # starts its error lines
        return self.entry.command

    @property
    def server(self) -> type[SourceServer]:
        return self.entry.simulator()

    @property
    def page(self) -> int:  # leads per list page
        return self.server.page_size

    @property
    def items_key(self) -> str:  # the list answer's items
        return self.server.items_key

    @property
    def list_path(self) -> str:
        return self.server.list_path

    @property
    def columns(self) -> dict[str, dict[str, Any]]:
        """Its columns.toml tables, the leads' first."""
        return dict(descriptions()[self.name])

    @property
    def table(self) -> str:  # the leads' table
        return next(iter(self.columns))

    @property
    def noun(self) -> str:  # what its messages call a lead: its table's name, singular
        return self.table.removesuffix("s")

    @property
    def email_column(self) -> str | None:
        """The leads' email column (``pii = "email"``), if they have one."""
        columns = self.columns[self.table]
        return next((name for name, entry in columns.items() if entry.get("pii") == "email"), None)

    @property
    def pii_column(self) -> str:  # a personal-data column: the email (PII_SOURCES have one)
        column = self.email_column
        assert column is not None, f"{self.name} has no email column"
        return column

    @property
    def first_page_after(self) -> int:
        """Requests to the list path before a backfill's first page (an append probe)."""
        return _requests_before_the_first_page(self.name)

    def setting(self, name: str) -> str:
        """The environment variable of setting ``name``."""
        spec = self.entry.settings
        return SettingChecks(spec.__setting_section__, spec.__kind__).setting_name(name)

    @property
    def bad_setting(self) -> tuple[str, str]:  # a variable and a value its checks refuse
        name, value = BAD_SETTING
        return self.setting(name), value

    def make_sim(self, clock: Clock, n_leads: int) -> Any:  # its own server class
        return self.server.sample(n_leads, SEED, clock)

    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "pipelines", self.name, *args]

    def cli_env(self, sim: SourceServer, root: Path) -> dict[str, str]:
        """Environment of a CLI run loading from ``sim`` into ``root`` (the files of ``run``)."""
        env = dict(os.environ)
        env.update({self.setting(name): value for name, value in sim.run_settings().items()})
        env.update(
            DESTINATION__DUCKDB__CREDENTIALS=str(root / "leads.duckdb"),
            DLT_DATA_DIR=str(root),  # dlt's pipelines under root / "pipelines"
            RUNTIME__DLTHUB_TELEMETRY="false",
        )
        return env

    def run(self, root: Path, sim: SourceServer, **options: Any) -> RunResult:
        """``run()`` from ``sim`` into the root's files."""
        return run_source(
            self.entry,
            dlt.destinations.duckdb(str(root / "leads.duckdb")),
            pipelines_dir=str(root / "pipelines"),
            **{**sim.run_settings(), **options},
        )

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
        columns = table_columns(functools.partial(self.query, root), self.dataset, self.table)
        if not columns:
            return []
        live = "WHERE _deleted_at IS NULL" if "_deleted_at" in columns else ""
        rows = self.query(root, f"SELECT id FROM {self.dataset}.{self.table} {live}")
        return [row[0] for row in rows]

    def first_pages_ids(self, sim: SourceServer, pages: int) -> set[str]:
        return set(sim.list_order()[: pages * self.page])

    def pii_values(self, sim: SourceServer) -> list[Any]:
        """The email column's values at the source."""
        path = api_fields(self.columns[self.table])[self.pii_column]
        return [field(lead, path) for lead in sim.leads()]

    def assert_exact(self, root: Path, sim: SourceServer) -> None:
        query = functools.partial(self.query, root)
        assert_exact(query, self.dataset, self.table, self.columns[self.table], sim)

    def runs(self, root: Path) -> list[tuple[str, int]]:
        """(outcome, pages) of each run, from its manifest table (``_<…>_runs``)."""
        tables = self.query(
            root,
            "SELECT table_name FROM information_schema.tables "
            f"WHERE table_schema = '{self.dataset}'",
        )
        manifests = [t for (t,) in tables if t.startswith("_") and t.endswith("_runs")]
        if not manifests:
            return []
        assert len(manifests) == 1, manifests
        return self.query(
            root, f"SELECT outcome, pages FROM {self.dataset}.{manifests[0]} ORDER BY started_at"
        )

    def has_pending(self, root: Path) -> bool:
        pipeline = dlt.attach(
            self.entry.pipeline_name,
            pipelines_dir=str(root / "pipelines"),
            destination=dlt.destinations.duckdb(str(root / "leads.duckdb")),
        )
        return bool(pipeline.has_pending_data)

    def list_requests(self, sim: SourceServer) -> list[dict[str, str]]:
        return [r.query for r in sim.requests if r.method == "GET" and r.path == self.list_path]


@functools.cache
def _requests_before_the_first_page(name: str) -> int:
    """Measured once: a backfill of one lead asks for its one page last (a page is asked for
    with the page size; a probe with less)."""
    source = SourceUnderTest(REGISTERED[name])
    with tempfile.TemporaryDirectory() as tmp, source.server.sample(1, SEED) as sim:
        source.run(Path(tmp), sim)
        asked = source.list_requests(sim)
    pages = [n for n, query in enumerate(asked) if str(source.page) in query.values()]
    assert pages, f"{name}: no list request asked for {source.page} leads"
    return pages[0]


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
        env.update({source.setting(name): value for name, value in settings.items()})
        super().__init__(source.cli("-q", *args), env)


SOURCES = [SourceUnderTest(source) for source in REGISTERED.values()]
BY_NAME = {source.name: source for source in SOURCES}
# The sources with an email column (``pii = "email"`` in docs/columns.toml).
PII_SOURCES = [source for source in SOURCES if source.email_column is not None]
