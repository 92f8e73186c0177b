"""dlt source for the Leads v1 API (``/api/v1/leads``, seed 004): the leads of one organization
with their AI-qualification fields, merged on ``id`` into the table ``leads``.

The list has no updated-since filter, so each run lists every lead (or, with ``new_only``, those
created since the mark), compares `updated_at` with what is loaded and fetches the detail of new
and changed leads only (``sources/core/sweep/detail_sweep.py``). HTTP lives in ``client.py``,
the endpoint in ``endpoint.py``, rows in ``shaping.py``, hints in ``hints.py``, settings in
``config.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
from dlt.sources import DltResource

from sources.core.pii import PiiPolicy
from sources.core.settings import resolve_settings
from sources.core.sweep.detail_sweep import DetailSweep
from sources.core.sweep.loads import Load, dlt_items

from .config import LeadsV1Settings, SourceConfig

__all__ = ["leads_session", "leads_v1", "resolve_config"]


def resolve_config(**given: Any) -> LeadsV1Settings:
    """The settings as the `leads_v1` source reads them, ``given`` ones first."""
    return resolve_settings(LeadsV1Settings, given)


def leads_session(config: SourceConfig, **decided: Any) -> DetailSweep:
    """A sweep of the leads under ``config``; ``decided``: what a runner decided (what the
    warehouse holds, counters, the Ctrl-C flag … see ``DetailSweep``)."""
    return DetailSweep(config.endpoint(), config.sweep_options(), config.open_client, **decided)


@dlt.source(name="leads_v1", max_table_nesting=0)
def leads_v1(config: Any = None, sweep: Any = None, **source_settings: Any) -> DltResource:
    """Leads of one organization. ``config``: the settings, resolved (``resolve_config``);
    without it they are resolved here. ``sweep``: a runner's ``DetailSweep`` (one load per
    checkpoint, deletes judged against the warehouse); without it one load lists everything
    and fetches every lead's detail (nothing is known of the warehouse, so nothing is
    deleted)."""
    resolved: SourceConfig = config if config is not None else resolve_config(**source_settings)
    return leads(
        sweep if sweep is not None else leads_session(resolved, one_load=True),
        resolved.pii_policy(),
    )


@dlt.resource(name="leads", write_disposition="merge")
def leads(load: Load, pii_policy: PiiPolicy) -> Iterator[Any]:
    """New, changed and deleted leads as arrow tables (one load per checkpoint)."""
    yield from dlt_items(load, pii_policy)
