"""dlt source for the MEGA Public CRM Lead API.

API: ``GET /api/agents/crm/leads`` — https://dev.gomega.ai (List / search leads; the vendor's
OpenAPI and prose docs are kept in ``shared/seeds`` 001 and 003). Leads are read in
``updated_at`` order with keyset cursors and merged on ``id``; ``custom_fields`` land in the child
table ``leads__custom_fields``. HTTP lives in ``client.py``, paging in ``paging.py``, state and
checkpoints in ``sync.py``, row shaping in ``shaping.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import dlt
from dlt.sources import DltResource

from . import settings
from .config import Filters, SourceConfig, build_config, normalize_timestamp
from .hints import append_hints, upsert_hints
from .shaping import TOMBSTONE
from .sync import SyncSession

__all__ = ["SyncSession", "mega"]

# Each table gets its own hints: resource-level column hints would leak into the child table.
LEADS_HINTS = dlt.mark.make_hints(
    table_name="leads",
    write_disposition="merge",
    primary_key="id",
    columns={
        "updated_at": {"name": "updated_at", "data_type": "timestamp", "dedup_sort": "desc"},
        TOMBSTONE: {"name": TOMBSTONE, "data_type": "bool", "hard_delete": True},
    },
)
CUSTOM_FIELDS_HINTS = dlt.mark.make_hints(
    table_name="leads__custom_fields",
    write_disposition="merge",
    # Every load carries all current slugs of each lead it touches: deleting by lead first is
    # what makes a slug removed at the source disappear here.
    merge_key="lead_id",
    # No primary key: rows are unique per load by construction, and a key would make dlt
    # dedup staging and delete on (lead_id, slug) OR lead_id, which is 3x slower in DuckDB.
    columns={TOMBSTONE: {"name": TOMBSTONE, "data_type": "bool", "hard_delete": True}},
)

MERGE_HINTS = (LEADS_HINTS, CUSTOM_FIELDS_HINTS)
# A backfill's leads that are new to empty tables: the same tables, appended (see sync.py).
# Without the merge-only hints (dlt warns that append ignores them); every merge sets them.
APPEND_HINTS = (
    dlt.mark.make_hints(
        table_name="leads",
        write_disposition="append",
        primary_key="id",
        columns={"updated_at": {"name": "updated_at", "data_type": "timestamp"}},
    ),
    dlt.mark.make_hints(table_name="leads__custom_fields", write_disposition="append"),
)


@dlt.source(name="mega", max_table_nesting=0)
def mega(
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
    session: Any = None,
) -> DltResource:
    """Leads of one MEGA customer, incrementally. Every argument is also a setting under
    ``[sources.mega]`` (``dlt_config/config.toml``) or ``SOURCES__MEGA__<NAME>``.

    ``session`` (a ``SyncSession``) lets a runner spread one sweep over several loads, one per
    checkpoint; without it a single load reads everything that changed."""
    config = build_config(
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
    )
    if session is None:  # no runner to spread the sweep over loads: one load reads it all
        config = dataclasses.replace(config, checkpoint_pages=None)
    session = session if session is not None else SyncSession()
    session.config = config
    return leads(config, session)


@dlt.resource(name="leads", write_disposition="merge")
def leads(config: SourceConfig, session: SyncSession) -> Iterator[Any]:
    """Changed leads since the last run, as arrow tables (one load per checkpoint)."""
    if session.reconcile is not None:
        batches = session.reconcile_batches(config)
    else:
        batches = session.checkpoint(config, dlt.current.resource_state())
    if session.table_format:  # a lakehouse table: upsert by key (hints.py)
        merge, appended = upsert_hints(session.table_format), append_hints(session.table_format)
    else:
        merge, appended = MERGE_HINTS, APPEND_HINTS
    try:
        for lead_rows, custom_field_rows, append in batches:
            if session.before_load is not None and not append:
                lead_rows, custom_field_rows = session.before_load(lead_rows, custom_field_rows)
            lead_hints, field_hints = appended if append else merge
            yield dlt.mark.with_hints(lead_rows, lead_hints, create_table_variant=True)
            if custom_field_rows is not None:
                yield dlt.mark.with_hints(custom_field_rows, field_hints, create_table_variant=True)
    finally:
        if config.checkpoint_pages is None:
            session.close()
