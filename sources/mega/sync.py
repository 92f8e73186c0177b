"""One run's sweep: where it starts (from state), and its checkpoints (data + the state covering it).

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
from .shaping import custom_fields_table, format_timestamp, leads_table, max_updated_at, parse_timestamp

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
    _client: MegaClient | None = None
    _stream: PageStream | None = None

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._client is not None:
            self._client.close()

    def _open(self, config: SourceConfig, stream_state: dict[str, Any]) -> PageStream:
        if self._stream is None:
            self.state_before = dict(stream_state)
            pacer = RateLimitPacer(reserve=config.rate_limit_reserve, stats=self.stats)
            self._client = MegaClient(
                config.base_url,
                config.api_token,
                config.customer_id,
                timeout=config.timeout,
                retry=config.retry,
                pacer=pacer,
            )
            start = start_position(stream_state, config)
            log.info(
                "sweep starts: %s",
                f"cursor of an interrupted run (mark {start.updated_since})"
                if start.cursor
                else f"updated_since={start.updated_since or 'the beginning'}",
            )
            self._stream = PageStream(
                self._client, config.list_params(), start, prefetch=config.prefetch_pages
            )
        return self._stream

    def checkpoint(
        self, config: SourceConfig, resource_state: dict[str, Any]
    ) -> Iterator[tuple[pa.Table, pa.Table]]:
        """Read up to `checkpoint_pages` pages; yield them as (leads, custom fields) tables,
        after moving the state to cover exactly them."""
        stream_state = stream_state_for(resource_state, config)
        stream = self._open(config, stream_state)
        batch: dict[str, dict[str, Any]] = {}
        cursor, first_page, last_page = stream_state["cursor"], 0, 0
        for page in stream:
            first_page = first_page or page.number
            last_page = page.number
            for lead in page.leads:
                # Pages run in updated_at order: a lead seen twice (updated mid-run) keeps its
                # later, newer version; merging one version per id is what keeps a load exact.
                batch.pop(lead["id"], None)
                batch[lead["id"]] = lead
            cursor = page.next_cursor
            self.pages += 1
            if cursor is None or (config.checkpoint_pages and last_page - first_page + 1 >= config.checkpoint_pages):
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
