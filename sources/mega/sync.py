"""One run's sweep: where it starts (from state) and its checkpoints (data + state covering it).

State lives in the `leads` resource state, one entry per filter set:
``streams[<key>] = {"filters", "high_water_mark", "cursor"}``. dlt commits resource state in the
same load package as the data, so a checkpoint's cursor and mark land with its rows or not at all.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from . import settings
from .client import ClientStats, MegaClient, RateLimitPacer
from .config import SourceConfig
from .paging import PageStream, StartPosition
from .ranges import RangePage, RangeStreams, plan_ranges
from .reconcile import ReconcilePlan
from .shaping import custom_fields_table, format_timestamp, leads_table, parse_timestamp

log = logging.getLogger("mega")


def stream_state_for(resource_state: dict[str, Any], config: SourceConfig) -> dict[str, Any]:
    streams = resource_state.setdefault("streams", {})
    entry = streams.setdefault(config.filters.stream_key, {})
    entry.setdefault("filters", config.filters.describe())
    entry.setdefault("high_water_mark", None)
    entry.setdefault("cursor", None)
    entry.setdefault("mark_ids", [])
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
    _ranges: Iterator[RangePage] | None = None

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._client is not None:
            self._client.close()

    def client(self, config: SourceConfig) -> MegaClient:
        if self._client is None:
            pacer = RateLimitPacer(
                reserve=config.rate_limit_reserve,
                max_wait_s=config.retry.retry_after_max_s,
                stats=self.stats,
            )
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
        after moving the state to cover exactly them (dlt commits both in one package)."""
        stream_state = stream_state_for(resource_state, config)
        if self.state_before is None:
            self.state_before = copy.deepcopy(stream_state)
            self._plan_ranges(config, stream_state)
        batch: dict[str, dict[str, Any]] = {}
        if stream_state.get("ranges"):
            label = self._read_ranges(config, stream_state, batch)
        else:
            label = self._read_sequential(config, stream_state, batch)
        yield from self._commit(batch, stream_state, label)

    def _add(self, batch: dict[str, dict[str, Any]], leads: list[dict[str, Any]]) -> None:
        for lead in leads:
            # One version per id per load, the newest: a lead updated mid-run is seen twice.
            held = batch.get(lead["id"])
            if held is None or held["updated_at"] <= lead["updated_at"]:
                batch[lead["id"]] = lead

    def _read_sequential(
        self, config: SourceConfig, stream_state: dict[str, Any], batch: dict[str, dict[str, Any]]
    ) -> str:
        stream = self._open(config, stream_state)
        before = self.state_before or {}
        previous_mark = before.get("high_water_mark")
        loaded_at_mark = set(before.get("mark_ids") or ())
        cursor, first_page, last_page = stream_state["cursor"], 0, 0
        for page in stream:
            first_page = first_page or page.number
            last_page = page.number
            leads = page.leads
            if loaded_at_mark:
                leads = [x for x in leads if not _same_version(x, loaded_at_mark, previous_mark)]
            if self.known_versions is not None and previous_mark:
                self._measure_lateness(leads, previous_mark)
            self._add(batch, leads)
            cursor = page.next_cursor
            self.pages += 1
            if cursor is None or last_page - first_page + 1 >= self._page_budget(config):
                break
        self.total = stream.first_total if self.total is None else self.total
        self.done = cursor is None
        stream_state["cursor"] = cursor
        _advance_mark(stream_state, batch)
        return f"pages {first_page}-{last_page}"

    def _plan_ranges(self, config: SourceConfig, stream_state: dict[str, Any]) -> None:
        fresh = not stream_state["high_water_mark"] and not stream_state["cursor"]
        if config.workers < 2 or not fresh or stream_state.get("ranges"):
            return
        self.total, ranges = plan_ranges(
            self.client(config),
            config.list_params(),
            config.filters.initial_updated_since,
            config.workers,
            settings.PAGE_LIMIT,
        )
        if ranges:
            stream_state["ranges"] = ranges

    def _read_ranges(
        self, config: SourceConfig, stream_state: dict[str, Any], batch: dict[str, dict[str, Any]]
    ) -> str:
        ranges: list[dict[str, Any]] = stream_state["ranges"]
        if self._ranges is None:
            streams = RangeStreams(
                self.client(config), config.list_params(), ranges, config.prefetch_pages
            )
            self._ranges = iter(streams)
        pages = 0
        for item in self._ranges:
            entry = ranges[item.range_index]
            self._add(batch, item.page.leads)
            entry["cursor"] = None if item.done else item.page.next_cursor
            entry["done"] = item.done
            entry["mark"] = _newest(
                entry.get("mark"), {lead["id"]: lead for lead in item.page.leads}
            )
            pages += 1
            self.pages += 1
            if pages >= self._page_budget(config):
                break
        if all(entry["done"] for entry in ranges):
            # Every lead older than the plan's newest instant is loaded; the ordinary sweep
            # from that instant (inclusive) picks up whatever changed meanwhile.
            stream_state["high_water_mark"] = ranges[-1]["end"]
            stream_state["mark_ids"] = []
            del stream_state["ranges"]
            self._ranges = None
        done = sum(entry["done"] for entry in ranges)
        return f"{pages} pages over {len(ranges)} ranges ({done} done)"

    @staticmethod
    def _page_budget(config: SourceConfig) -> int:
        return config.checkpoint_pages or 1 << 62

    def _commit(
        self, batch: dict[str, dict[str, Any]], stream_state: dict[str, Any], label: str
    ) -> Iterator[tuple[pa.Table, pa.Table | None]]:
        rows = list(batch.values())
        leads = leads_table(rows, label)
        fields = custom_fields_table(rows, label)
        self.state_after = copy.deepcopy(stream_state)
        self.checkpoints += 1
        self.leads += leads.num_rows
        log.info(
            "checkpoint %d: %s, %d leads (run total: %d pages, %d leads, %d requests)",
            self.checkpoints,
            label,
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


def _newest(mark: str | None, batch: dict[str, dict[str, Any]]) -> str | None:
    """The later of ``mark`` and the newest `updated_at` in ``batch``, in the API's format."""
    newest = max((lead["updated_at"] for lead in batch.values()), default=None)
    if newest is None:
        return mark
    newest = format_timestamp(parse_timestamp(newest))
    return newest if mark is None or newest > mark else mark


# Leads tied at the mark are re-read by the next sweep (`updated_since` is inclusive); like dlt's
# own incremental, remember which versions were loaded there so an unchanged rerun loads nothing.
# Past this many ties the list is not kept and ties are simply merged again.
MAX_MARK_IDS = 10_000


def _same_version(lead: dict[str, Any], loaded_at_mark: set[str], mark: str | None) -> bool:
    return lead["id"] in loaded_at_mark and _api_ts(lead["updated_at"]) == mark


def _api_ts(value: str) -> str:
    return format_timestamp(parse_timestamp(value))


def _advance_mark(stream_state: dict[str, Any], batch: dict[str, dict[str, Any]]) -> None:
    old_mark = stream_state["high_water_mark"]
    new_mark = _newest(old_mark, batch)
    at_mark = {i for i, lead in batch.items() if _api_ts(lead["updated_at"]) == new_mark}
    if new_mark == old_mark:
        at_mark |= set(stream_state.get("mark_ids") or ())
    stream_state["high_water_mark"] = new_mark
    stream_state["mark_ids"] = sorted(at_mark) if len(at_mark) <= MAX_MARK_IDS else []
