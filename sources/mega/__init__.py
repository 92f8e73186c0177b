"""dlt source for the MEGA Public CRM Lead API.

API: ``GET /api/agents/crm/leads`` — https://dev.gomega.ai (List / search leads; the vendor's
OpenAPI and prose docs are kept in ``shared/seeds`` 001 and 003). Leads are read in
``updated_at`` order with keyset cursors and merged on ``id``; ``custom_fields`` land in the child
table ``leads__custom_fields``. The endpoint is one ``EndpointSpec`` (``endpoint.py``) swept by
``sources/core/sweep``; HTTP lives in ``client.py``, row shaping in ``shaping.py``, table hints
in ``hints.py``, settings in ``config.py``.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import dlt
from dlt.common.configuration.inject import with_config
from dlt.sources import DltResource

from sources.core.sweep.keyset_sweep import KeysetSweep
from sources.core.sweep.loads import Load, dlt_items

from . import settings
from .config import Filters, SourceConfig, build_config, normalize_timestamp

__all__ = ["SOURCE_SETTINGS", "leads_session", "mega", "resolve_config"]


def _source_settings(
    api_token: str | None = dlt.secrets.value,
    customer_id: str | None = dlt.config.value,
    base_url: str = settings.DEFAULT_BASE_URL,
    status: str | None = None,
    stage_id: str | None = None,
    lead_line: str | None = None,
    search: str | None = None,
    created_since: str | None = None,
    initial_updated_since: str | None = None,
    lookback: str | None = None,
    checkpoint_pages: int = settings.CHECKPOINT_PAGES,
    checkpoint_seconds: float = settings.CHECKPOINT_SECONDS,
    prefetch_pages: int = settings.PREFETCH_PAGES,
    fetch_process_min_leads: int = settings.FETCH_PROCESS_MIN_LEADS,
    connect_timeout: float = settings.CONNECT_TIMEOUT_S,
    read_timeout: float = settings.READ_TIMEOUT_S,
    max_retries: int = settings.MAX_RETRIES,
    backoff_base: float = settings.BACKOFF_BASE_S,
    backoff_max: float = settings.BACKOFF_MAX_S,
    retry_after_max: float = settings.RETRY_AFTER_MAX_S,
    max_retry_time: float = settings.MAX_RETRY_TIME_S,
    rate_limit_reserve: int = settings.RATE_LIMIT_RESERVE,
    workers: int = 1,
    pii: str | None = None,
    pii_key: str | None = None,
) -> SourceConfig:
    """Every argument is also a setting under ``[sources.mega]`` (``dlt_config/config.toml``)
    or ``SOURCES__MEGA__<NAME>``."""
    return build_config(
        base_url=base_url,
        api_token=api_token,
        customer_id=customer_id,
        filters=Filters(
            status=status or None,
            stage_id=stage_id or None,
            lead_line=lead_line or None,
            search=search or None,
            created_since=normalize_timestamp(created_since, "created_since"),
            initial_updated_since=normalize_timestamp(
                initial_updated_since, "initial_updated_since"
            ),
        ),
        lookback=lookback,
        checkpoint_pages=checkpoint_pages,
        checkpoint_seconds=checkpoint_seconds,
        prefetch_pages=prefetch_pages,
        fetch_process_min_leads=fetch_process_min_leads,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_retries=max_retries,
        backoff_base=backoff_base,
        backoff_max=backoff_max,
        retry_after_max=retry_after_max,
        max_retry_time=max_retry_time,
        rate_limit_reserve=rate_limit_reserve,
        workers=workers,
        pii=pii,
        pii_key=pii_key,
    )


# The settings as the `mega` source reads them (sections sources.mega.mega, sources.mega, ...):
# a runner resolves them once, before anything runs, and hands the config to the source.
resolve_config = with_config(_source_settings, sections=("sources", "mega", "mega"))
SOURCE_SETTINGS = tuple(inspect.signature(_source_settings).parameters)


def leads_session(config: SourceConfig, **decided: Any) -> KeysetSweep:
    """A sweep of the leads under ``config``; ``decided``: what a runner decided (see
    ``KeysetSweep``)."""
    return KeysetSweep(config.endpoint(), config.sweep_options(), config.open_client, **decided)


@dlt.source(name="mega", max_table_nesting=0)
def mega(config: Any = None, load: Any = None, **source_settings: Any) -> DltResource:
    """Leads of one MEGA customer, incrementally.

    ``config``: the settings, resolved (``resolve_config``); without it they are resolved here
    from ``source_settings`` and dlt config. ``load``: a runner's ``KeysetSweep`` (one load per
    checkpoint) or reconcile; without it a single load reads everything that changed."""
    resolved: SourceConfig = config if config is not None else resolve_config(**source_settings)
    return leads(load if load is not None else leads_session(resolved, one_load=True))


@dlt.resource(name="leads", write_disposition="merge")
def leads(load: Load) -> Iterator[Any]:
    """Changed leads since the last run, as arrow tables (one load per checkpoint)."""
    yield from dlt_items(load, dlt.current.resource_state())
