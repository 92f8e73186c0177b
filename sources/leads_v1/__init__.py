"""dlt source for the Leads v1 API (``/api/v1/leads``, seed 004): the leads of one organization
with their AI-qualification fields, merged on ``id`` into the table ``leads``.

The list has no updated-since filter, so each run lists every lead (or, with ``new_only``, those
created since the mark), compares `updated_at` with what is loaded and fetches the detail of new
and changed leads only (``sources/core/sweep/detail_sweep.py``). HTTP lives in ``client.py``,
the endpoint in ``endpoint.py``, rows in ``shaping.py``, hints in ``hints.py``, settings in
``config.py``.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import dlt
from dlt.common.configuration.inject import with_config
from dlt.sources import DltResource

from sources.core.sweep.detail_sweep import DetailSweep
from sources.core.sweep.loads import Load, dlt_items

from . import settings
from .config import Filters, SourceConfig, build_config

__all__ = ["SOURCE_SETTINGS", "leads_session", "leads_v1", "resolve_config"]


def _source_settings(
    api_token: str | None = dlt.secrets.value,
    base_url: str | None = dlt.config.value,
    pipeline_stage: str | None = None,
    source: str | None = None,
    new_only: bool = False,
    delete_mode: str = "soft",
    detail_concurrency: int = settings.DETAIL_CONCURRENCY,
    checkpoint_pages: int = settings.CHECKPOINT_PAGES,
    checkpoint_seconds: float = settings.CHECKPOINT_SECONDS,
    prefetch_pages: int = settings.PREFETCH_PAGES,
    connect_timeout: float = settings.CONNECT_TIMEOUT_S,
    read_timeout: float = settings.READ_TIMEOUT_S,
    max_retries: int = settings.MAX_RETRIES,
    backoff_base: float = settings.BACKOFF_BASE_S,
    backoff_max: float = settings.BACKOFF_MAX_S,
    retry_after_max: float = settings.RETRY_AFTER_MAX_S,
    max_retry_time: float = settings.MAX_RETRY_TIME_S,
    rate_limit_reserve: int = settings.RATE_LIMIT_RESERVE,
    pii: str | None = None,
    pii_key: str | None = None,
) -> SourceConfig:
    """Every argument is also a setting under ``[sources.leads_v1]`` or
    ``SOURCES__LEADS_V1__<NAME>``."""
    return build_config(
        base_url=base_url,
        api_token=api_token,
        filters=Filters(pipeline_stage=pipeline_stage or None, source=source or None),
        new_only=new_only,
        delete_mode=delete_mode,
        detail_concurrency=detail_concurrency,
        checkpoint_pages=checkpoint_pages,
        checkpoint_seconds=checkpoint_seconds,
        prefetch_pages=prefetch_pages,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_retries=max_retries,
        backoff_base=backoff_base,
        backoff_max=backoff_max,
        retry_after_max=retry_after_max,
        max_retry_time=max_retry_time,
        rate_limit_reserve=rate_limit_reserve,
        pii=pii,
        pii_key=pii_key,
    )


resolve_config = with_config(_source_settings, sections=("sources", "leads_v1", "leads_v1"))
SOURCE_SETTINGS = tuple(inspect.signature(_source_settings).parameters)


def leads_session(config: SourceConfig, **decided: Any) -> DetailSweep:
    """A sweep of the leads under ``config``; ``decided``: what a runner decided (what the
    warehouse holds, counters, the Ctrl-C flag … see ``DetailSweep``)."""
    return DetailSweep(config.endpoint(), config.sweep_options(), config.open_client, **decided)


@dlt.source(name="leads_v1", max_table_nesting=0)
def leads_v1(config: Any = None, load: Any = None, **source_settings: Any) -> DltResource:
    """Leads of one organization. ``config``: the settings, resolved (``resolve_config``);
    without it they are resolved here. ``load``: a runner's ``DetailSweep`` (one load per
    checkpoint, deletes judged against the warehouse); without it one load lists everything
    and fetches every lead's detail (nothing is known of the warehouse, so nothing is
    deleted)."""
    resolved: SourceConfig = config if config is not None else resolve_config(**source_settings)
    return leads(load if load is not None else leads_session(resolved, one_load=True))


@dlt.resource(name="leads", write_disposition="merge")
def leads(load: Load) -> Iterator[Any]:
    """New, changed and deleted leads as arrow tables (one load per checkpoint)."""
    yield from dlt_items(load, dlt.current.resource_state())
