"""One run's sweep: where it starts (from state) and its checkpoints (data + state covering it).

State lives in the `leads` resource state, one entry per filter set:
``streams[<key>] = {"filters", "high_water_mark", "cursor"}``. dlt commits resource state in the
same load package as the data, so a checkpoint's cursor and mark land with its rows or not at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from .client import ClientStats, MegaClient, RateLimitPacer
from .config import SourceConfig
from .paging import PageStream, StartPosition
from .reconcile import ReconcilePlan
from .shaping import (
    custom_fields_table,
    format_timestamp,
    leads_table,
    max_updated_at,
    parse_timestamp,
)

log = logging.getLogger("mega")


def stream_state_for(resource_state: dict[str, Any], config: SourceConfig) -> dict[str, Any]:
    streams = resource_state.setdefault("streams", {})
    entry = streams.setdefault(config.filters.stream_key, {})
    entry.setdefault("filters", config.filters.describe())
    entry.setdefault("high_water_mark", None)
    entry.setdefault("cursor", None)
    return entry


def start_position(stream_state: dict[str, Any], config: SourceConfig) -> StartPosition:
    mark = stream_state.get("high_water_mark")
    if mark is None:
        return StartPosition(cursor=None, updated_since=config.filters.initial_updated_since)
    since = format_timestamp(parse_timestamp(mark) - config.lookback) if config.lookback else mark
    # A saved cursor means the last sweep stopped between checkpoints: continue it exactly.
    return StartPosition(cursor=stream_state.get("cursor"), updated_since=since)


@dataclass
class SyncSession:
    """What one run keeps across its checkpoint loads: client, open page stream, counters."""

    stats: ClientStats = field(default_factory=ClientStats)
    pages: int = 0
    leads: int = 0
    checkpoints: int = 0
    done: bool = False
    state_before: dict[str, Any] | None = None
    state_after: dict[str, Any] | None = None
    total: int | None = None
    started: float = field(default_factory=time.monotonic)
    # lookback: versions already loaded inside the re-read window (id -> updated_at), from the
    # runner; a re-read lead whose version is not among them was committed late at the source.
    known_versions: dict[str, str] | None = None
    rereads: int = 0
    late_changes: int = 0
    max_lateness_s: float = 0.0
    reconcile: ReconcilePlan | None = None
    config: SourceConfig | None = None
    _client: MegaClient | None = None
    _stream: PageStream | None = None

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._client is not None:
            self._client.close()

    def client(self, config: SourceConfig) -> MegaClient:
        if self._client is None:
            pacer = RateLimitPacer(reserve=config.rate_limit_reserve, stats=self.stats)
            self._client = MegaClient(
                config.base_url,
                config.api_token,
                config.customer_id,
                timeout=config.timeout,
                retry=config.retry,
                pacer=pacer,
            )
        return self._client

    def _open(self, config: SourceConfig, stream_state: dict[str, Any]) -> PageStream:
        if self._stream is None:
            self.state_before = dict(stream_state)
            start = start_position(stream_state, config)
            log.info(
                "sweep starts: %s",
                f"cursor of an interrupted run (mark {start.updated_since})"
                if start.cursor
                else f"updated_since={start.updated_since or 'the beginning'}",
            )
            self._stream = PageStream(
                self.client(config), config.list_params(), start, prefetch=config.prefetch_pages
            )
        return self._stream

    def checkpoint(
        self, config: SourceConfig, resource_state: dict[str, Any]
    ) -> Iterator[tuple[pa.Table, pa.Table | None]]:
        """Read up to `checkpoint_pages` pages; yield them as (leads, custom fields) tables,
        after moving the state to cover exactly them."""
        stream_state = stream_state_for(resource_state, config)
        stream = self._open(config, stream_state)
        previous_mark = (self.state_before or {}).get("high_water_mark")
        batch: dict[str, dict[str, Any]] = {}
        cursor, first_page, last_page = stream_state["cursor"], 0, 0
        for page in stream:
            first_page = first_page or page.number
            last_page = page.number
            if self.known_versions is not None and previous_mark:
                self._measure_lateness(page.leads, previous_mark)
            for lead in page.leads:
                # Pages run in updated_at order: a lead seen twice (updated mid-run) keeps its
                # later, newer version; merging one version per id is what keeps a load exact.
                batch.pop(lead["id"], None)
                batch[lead["id"]] = lead
            cursor = page.next_cursor
            self.pages += 1
            if cursor is None or last_page - first_page + 1 >= (config.checkpoint_pages or 1 << 62):
                break
        self.total = stream.first_total if self.total is None else self.total
        self.done = cursor is None
        where = f"pages {first_page}-{last_page}"
        rows = list(batch.values())
        leads = leads_table(rows, where)
        fields = custom_fields_table(rows, where)
        newest = max_updated_at(leads)
        mark = stream_state["high_water_mark"]
        stream_state["high_water_mark"] = max(filter(None, (mark, newest)), default=None)
        stream_state["cursor"] = cursor
        self.state_after = dict(stream_state)
        self.checkpoints += 1
        self.leads += leads.num_rows
        log.info(
            "checkpoint %d: %s, %d leads (run total: %d pages, %d leads, %d requests)",
            self.checkpoints,
            where,
            leads.num_rows,
            self.pages,
            self.leads,
            self.stats.requests,
        )
        if leads.num_rows:
            yield leads, fields

    def _measure_lateness(self, leads: list[dict[str, Any]], previous_mark: str) -> None:
        known = self.known_versions or {}
        mark = parse_timestamp(previous_mark)
        for lead in leads:
            updated = parse_timestamp(lead["updated_at"])
            if updated >= mark:
                continue
            self.rereads += 1
            if known.get(lead["id"]) != format_timestamp(updated):
                self.late_changes += 1
                self.max_lateness_s = max(self.max_lateness_s, (mark - updated).total_seconds())

    def reconcile_batches(self, config: SourceConfig) -> Iterator[tuple[pa.Table, pa.Table | None]]:
        plan = self.reconcile
        assert plan is not None
        plan.sweep(self.client(config), config)
        self.pages += plan.pages
        yield from plan.batches()
