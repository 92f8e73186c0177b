"""dlt source for the MEGA Public CRM Lead API.

API: ``GET /api/agents/crm/leads`` — https://dev.gomega.ai (List / search leads; the vendor's
OpenAPI and prose docs are kept in ``shared/seeds`` 001 and 003). Leads are read in
``updated_at`` order with keyset cursors and merged on ``id``; ``custom_fields`` land in the child
table ``leads__custom_fields``. The endpoint is one ``EndpointSpec`` (``endpoint.py``) swept by
``sources/core/sweep``; HTTP lives in ``client.py``, row shaping in ``shaping.py``, table hints
in ``hints.py``, settings in ``config.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
from dlt.sources import DltResource

from sources.core.pii import PiiPolicy
from sources.core.settings import resolve_settings
from sources.core.sweep.keyset_sweep import KeysetSweep
from sources.core.sweep.loads import Load, dlt_items

from .config import MegaSettings, SourceConfig

__all__ = ["leads_session", "mega", "resolve_config"]


def resolve_config(**given: Any) -> MegaSettings:
    """The settings as the `mega` source reads them (sections sources.mega.mega, sources.mega,
    ...), ``given`` ones first: a runner resolves them once, before anything runs, and hands
    them to the source."""
    return resolve_settings(MegaSettings, given)


def leads_session(config: SourceConfig, **decided: Any) -> KeysetSweep:
    """A sweep of the leads under ``config``; ``decided``: what a runner decided (see
    ``KeysetSweep``)."""
    return KeysetSweep(config.endpoint(), config.sweep_options(), config.open_client, **decided)


@dlt.source(name="mega", max_table_nesting=0)
def mega(config: Any = None, sweep: Any = None, **source_settings: Any) -> DltResource:
    """Leads of one MEGA customer, incrementally.

    ``config``: the settings, resolved (``resolve_config``); without it they are resolved here
    from ``source_settings`` and dlt config. ``sweep``: a runner's ``KeysetSweep`` (one load per
    checkpoint) or reconcile; without it a single load reads everything that changed."""
    resolved: SourceConfig = config if config is not None else resolve_config(**source_settings)
    return leads(
        sweep if sweep is not None else leads_session(resolved, one_load=True),
        resolved.pii_policy(),
    )


@dlt.resource(name="leads", write_disposition="merge")
def leads(load: Load, pii_policy: PiiPolicy) -> Iterator[Any]:
    """Changed leads since the last run, as arrow tables (one load per checkpoint)."""
    yield from dlt_items(load, pii_policy)
