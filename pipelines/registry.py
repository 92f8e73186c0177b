"""Every source the connector loads, declared once: what the entrypoints, the dbt runner, the data
dictionary, the demo, the orchestrator examples and the tests loop over.

A new source is its package under ``sources/`` (with its settings spec), its run class, its
simulator (a ``simulators.core.source.SourceServer``), one entry here and its columns in
``docs/columns.toml``; the contract suite (``tests/contract``) then runs over it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipelines.leads_v1_run import LeadsV1Run
from pipelines.mega_run import MegaRun
from pipelines.runner import CheckpointedRun
from sources.core.settings import ConnectorSettings
from sources.leads_v1 import settings as leads_v1_settings
from sources.leads_v1.config import LeadsV1Settings
from sources.mega import settings as mega_settings
from sources.mega.config import MegaSettings

if TYPE_CHECKING:  # a run does not load the simulators: they are imported when asked for
    from simulators.core.source import SourceServer


@dataclass(frozen=True)
class Source:
    name: str  # the dlt source, its settings' section [sources.<name>], its dlt schema
    title: str  # how the docs name it
    command: str  # its console script
    description: str  # the command's help
    pipeline_name: str
    dataset: str  # the default dataset
    settings: type[ConnectorSettings]
    # Built as run_class(pipeline, warehouse, settings, full_refresh=…, discard_pending=…,
    # **its own run options).
    run_class: Callable[..., CheckpointedRun]
    # Its API's simulator class (imported when called): the data dictionary and the contract
    # tests (tests/contract) start it.
    simulator: Callable[[], type[SourceServer]]
    # Options of ``run()`` that are not settings (MEGA's reconcile): added to the command line,
    # passed to the run class.
    cli_extras: Callable[[argparse.ArgumentParser], None] | None = None
    run_options: tuple[str, ...] = ()
    sample_queries: Mapping[str, str] = field(default_factory=dict)  # the demo's
    schedules: tuple[Schedule, ...] = ()  # what the orchestrator examples schedule


def _mega_simulator() -> type[SourceServer]:
    from simulators.mega import SimulatorServer

    return SimulatorServer


def _leads_v1_simulator() -> type[SourceServer]:
    from simulators.leads_v1 import LeadsV1Server

    return LeadsV1Server


@contextmanager
def simulated(source: Source, n_leads: int, seed: int) -> Iterator[dict[str, Any]]:
    """The source's simulator serving ``n_leads`` sample leads (seeded), started: the
    settings that point a run at it."""
    with source.simulator().sample(n_leads, seed) as sim:
        yield sim.run_settings()


def _reconcile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reconcile",
        action="store_true",
        help="afterwards, sweep every lead id at the source and mark leads that vanished",
    )
    parser.add_argument(
        "--delete-mode",
        choices=["soft", "hard"],
        default="soft",
        help="reconcile: set _deleted_at (soft, default) or remove the rows (hard)",
    )


@dataclass(frozen=True)
class Schedule:
    """When a source's load runs, whatever runs it (``orchestrators/``: each tool names it
    ``<source>_<name>`` its own way; ``cron.md``)."""

    when: str  # "every_15_min", "hourly", "nightly"
    cron: str
    # Which run, where a source's schedules run different ones ("new_only", "full"); its
    # ``run()`` options.
    run: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return "_".join(part for part in (self.when, self.run) if part)


MEGA = Source(
    name="mega",
    title="MEGA",
    command="mega-leads",
    description="Load MEGA CRM leads that changed since the last run into a warehouse.",
    pipeline_name=mega_settings.PIPELINE_NAME,
    dataset=mega_settings.DEFAULT_DATASET,
    settings=MegaSettings,
    run_class=MegaRun,
    simulator=_mega_simulator,
    cli_extras=_reconcile_arguments,
    run_options=("reconcile", "delete_mode"),
    sample_queries={
        "leads by status": (
            "SELECT status, COUNT(*) AS leads, COUNT(_deleted_at) AS deleted "
            "FROM mega.leads GROUP BY status ORDER BY leads DESC"
        ),
        "most used custom fields": (
            "SELECT slug, COUNT(*) AS leads, STRING_AGG(DISTINCT value_type, ',') AS types "
            "FROM mega.leads__custom_fields GROUP BY slug ORDER BY leads DESC LIMIT 6"
        ),
        "runs (_mega_runs)": (
            "SELECT outcome, pages, leads, requests, checkpoints, reconciled, deleted, "
            "api_total, warehouse_count FROM mega._mega_runs ORDER BY started_at"
        ),
    },
    schedules=(Schedule("every_15_min", "*/15 * * * *"),),
)
LEADS_V1 = Source(
    name="leads_v1",
    title="Leads v1",
    command="leads-v1",
    description="Load the Leads v1 API's new, changed and deleted leads into a warehouse.",
    pipeline_name=leads_v1_settings.PIPELINE_NAME,
    dataset=leads_v1_settings.DEFAULT_DATASET,
    settings=LeadsV1Settings,
    run_class=LeadsV1Run,
    simulator=_leads_v1_simulator,
    sample_queries={
        "Leads v1: qualified leads by source": (
            "SELECT source, COUNT(*) AS leads, ROUND(AVG(lead_score)) AS avg_score, "
            "COUNT(ai_reasoning) AS ai_qualified FROM leads_v1.leads WHERE _deleted_at IS NULL "
            "GROUP BY source ORDER BY leads DESC"
        ),
        "Leads v1: runs (_leads_v1_runs)": (
            "SELECT outcome, pages, leads, details, requests, deleted "
            "FROM leads_v1._leads_v1_runs ORDER BY started_at"
        ),
    },
    # New leads only hourly (cheap); nightly the full sweep, which also finds updates and
    # deletes of older leads.
    schedules=(
        Schedule("hourly", "5 * * * *", "new_only", {"new_only": True}),
        Schedule("nightly", "30 2 * * *", "full", {"new_only": False}),
    ),
)
SOURCES: dict[str, Source] = {source.name: source for source in (MEGA, LEADS_V1)}
