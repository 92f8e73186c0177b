"""One run's sweep, split into checkpoints: loads whose rows and state dlt commits together.

Pages are shaped to arrow about every thousand leads and handed to dlt in items of ~25k leads,
so memory stays bounded by a few tens of megabytes, not by the checkpoint. A load never holds
two versions of a lead: when a page repeats a lead already in the load (it was updated mid-run
and moved to the end of the sort), the checkpoint ends before that page and the newer version
opens the next load.
"""

from __future__ import annotations

import copy
import logging
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from . import settings
from .client import ClientStats, MegaClient, RateLimitPacer
from .config import SourceConfig
from .fetch_process import SweepStream, discard_fetch_process, spawn_fetch_process
from .paging import Page, check_page_leads
from .ranges import RangeStreams, plan_ranges
from .reconcile import ReconcilePlan
from .shaping import (
    LEADS_SCHEMA,
    custom_fields_table,
    format_timestamp,
    leads_table,
    parse_timestamp,
)
from .state import (
    advance_mark,
    already_loaded,
    api_timestamp,
    newest_of,
    start_position,
    stream_state_for,
)

log = logging.getLogger("mega")

# (leads rows, custom-field rows or None, append): see `SyncSession.empty_table`.
Batch = tuple[pa.Table, pa.Table | None, bool]


def _rows_or_none(table: pa.Table | None) -> pa.Table | None:
    return table if table is not None and len(table) else None


@dataclass(frozen=True)
class _Item:
    range_index: int | None  # None: the sequential sweep
    page: Page
    last: bool  # the last page of its sweep or range


class _Rewindable:
    """An iterator that can take back the one item a checkpoint decided not to load."""

    def __init__(self, items: Iterator[_Item], ready: Callable[[], bool] | None = None) -> None:
        self._items = items
        self._back: _Item | None = None
        self._ready = ready

    def ready(self) -> bool:
        """The next item is at hand (unknown counts as at hand)."""
        return self._back is not None or self._ready is None or self._ready()

    def push_back(self, item: _Item) -> None:
        self._back = item

    def __iter__(self) -> Iterator[_Item]:
        return self

    def __next__(self) -> _Item:
        if self._back is not None:
            item, self._back = self._back, None
            return item
        return next(self._items)


@dataclass
class SyncSession:
    """What one run keeps across its checkpoint loads: client, open page streams, counters."""

    stats: ClientStats = field(default_factory=ClientStats)
    pages: int = 0
    leads: int = 0
    checkpoints: int = 0
    done: bool = False
    state_before: dict[str, Any] | None = None
    state_after: dict[str, Any] | None = None
    total: int | None = None
    # lookback: versions already loaded inside the re-read window (id -> updated_at), from the
    # runner; a re-read lead whose version is not among them was committed late at the source.
    known_versions: dict[str, str] | None = None
    rereads: int = 0
    late_changes: int = 0
    max_lateness_s: float = 0.0
    reconcile: ReconcilePlan | None = None
    config: SourceConfig | None = None
    # Set by the runner when the lead tables hold no rows. A backfill's leads updated before the
    # sweep began (below the newest `updated_at` seen then) each appear once in it, so their
    # loads can be appended instead of merged. So can every lead of the run's first load (it
    # holds each lead once, and nothing was loaded before it); newer leads of later loads may
    # repeat an appended one, so they are merged.
    empty_table: bool = False
    _append_before: str | None = None
    _append_checked: bool = False
    _client: MegaClient | None = None
    _stream: SweepStream | None = None
    _ranges: RangeStreams | None = None
    _items: _Rewindable | None = None
    _spawned: subprocess.Popen[bytes] | None = None

    def close(self) -> None:
        for closable in (self._stream, self._ranges, self._client):
            if closable is not None:
                closable.close()
        self.close_spawned()

    def close_spawned(self) -> None:
        if self._spawned is not None:
            discard_fetch_process(self._spawned)
            self._spawned = None

    def start_fetch_process(self) -> None:
        """Start the fetch process now, for a sweep that is likely long (a backfill): it then
        imports while the run sets up instead of after the first page."""
        config = self.config
        if config is None or config.fetch_process_min_leads <= 0 or config.workers > 1:
            return
        if self._spawned is None and self._items is None:
            try:
                self._spawned = spawn_fetch_process()
            except OSError as exc:  # the sweep will fall back to a thread, and say so
                log.debug("fetch process not started ahead: %s", exc)

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

    def checkpoint(self, config: SourceConfig, resource_state: dict[str, Any]) -> Iterator[Batch]:
        """Read one checkpoint's pages, moving the state over each before its rows are handed
        to dlt; dlt commits the rows and the state in one package."""
        stream_state = stream_state_for(resource_state, config)
        if self.state_before is None:
            self.state_before = copy.deepcopy(stream_state)
            self._plan_ranges(config, stream_state)
        items = self._open_items(config, stream_state)
        before = self.state_before
        loaded_at_mark: dict[str, str] = dict(before.get("mark_versions") or {})
        started, pages, rows = time.monotonic(), 0, 0
        in_load: set[str] = set()
        pending: list[dict[str, Any]] = []
        shaped: list[Batch] = []
        carried: pa.Table | None = None  # custom-field rows short of a whole row group
        append: bool | None = None  # decided by the load's first page
        for item in items:
            leads = item.page.leads
            if item.range_index is None and loaded_at_mark:
                mark = before.get("high_water_mark")
                leads = [x for x in leads if not already_loaded(x, loaded_at_mark, mark)]
            page_ids = {lead["id"] for lead in leads}
            fits_append = self._appendable(leads)
            if in_load and (not in_load.isdisjoint(page_ids) or (append and not fits_append)):
                items.push_back(item)  # it opens the next load
                break
            append = fits_append if append is None else append
            if item.range_index is None and self.known_versions is not None:
                self._measure_lateness(leads, before.get("high_water_mark"))
            in_load |= page_ids
            pending.extend(leads)
            pages += 1
            self.pages += 1
            self._record(item, stream_state)
            if self.pages % settings.PROGRESS_EVERY_PAGES == 0:
                self._progress()
            if len(pending) >= settings.SHAPE_ROWS:
                rows += len(pending)
                shaped.append(self._shape(pending, bool(append)))
                pending = []
                # Waiting for the next page anyway (a slow API): hand dlt what is shaped now,
                # so that little is left to write after the last page.
                idle = not items.ready()
                if idle or sum(len(batch[0]) for batch in shaped) >= settings.YIELD_ROWS:
                    batch, carried = self._joined(shaped, stream_state, carried, bool(append))
                    yield batch
                    shaped = []
            if self.done or self._items is None or self._budget_spent(config, pages, started):
                break
        rows += len(pending)
        if pending:
            shaped.append(self._shape(pending, bool(append)))
        if shaped or carried is not None:
            yield self._joined(shaped, stream_state, carried, bool(append), final=True)[0]
        # The checkpoint's arrow buffers are written and freed; arrow's allocator (mimalloc)
        # would keep their pages through the load, which is the run's peak (−30 MB at 100k).
        pa.default_memory_pool().release_unused()
        self.checkpoints += 1
        log.info(
            "checkpoint %d: %d pages, %d leads (run total: %d pages, %d leads, %d requests)",
            self.checkpoints,
            pages,
            rows,
            self.pages,
            self.leads,
            self.stats.requests,
        )

    def _progress(self) -> None:
        stats = self.stats.snapshot()
        log.info(
            "page %d: %d leads so far, %d requests, %d retries, %d rate-limit waits (%.1f s)",
            self.pages,
            self.leads,
            stats["requests"],
            stats["retries"],
            stats["rate_limit_waits"],
            stats["rate_limit_wait_s"],
        )

    @staticmethod
    def _budget_spent(config: SourceConfig, pages: int, started: float) -> bool:
        if config.checkpoint_pages is None:
            return False
        return (
            pages >= config.checkpoint_pages
            or time.monotonic() - started >= config.checkpoint_seconds
        )

    def _shape(self, leads: list[dict[str, Any]], append: bool) -> Batch:
        where = f"pages up to {self.pages}"
        self.leads += len(leads)
        # Appended leads are new to the tables: no old custom-field rows to delete.
        fields = custom_fields_table(leads, where, tombstones=not append)
        return leads_table(leads, where), fields, append

    def _joined(
        self,
        shaped: list[Batch],
        stream_state: dict[str, Any],
        carried: pa.Table | None,
        append: bool,
        final: bool = False,
    ) -> tuple[Batch, pa.Table | None]:
        """One item for dlt out of several shaped ones (all of one load, of mode ``append``), and
        the custom-field rows it carries to the load's next item. dlt writes each item's table as
        parquet row groups; whole DuckDB row groups load without a merge of partial ones. The
        load's last item (``final``) takes every row left."""
        self.state_after = copy.deepcopy(stream_state)
        fields = [carried] if carried is not None else []
        fields += [batch[1] for batch in shaped if batch[1] is not None]
        joined = pa.concat_tables(fields) if fields else None
        rest = None
        if joined is not None and not final:
            whole = len(joined) - len(joined) % settings.DUCKDB_ROW_GROUP
            joined, rest = joined.slice(0, whole), joined.slice(whole)
        # No shaped leads when only carried rows are left (the previous item ended the pages).
        leads = pa.concat_tables([b[0] for b in shaped]) if shaped else LEADS_SCHEMA.empty_table()
        return (leads, _rows_or_none(joined), append), _rows_or_none(rest)

    def _appendable(self, leads: list[dict[str, Any]]) -> bool:
        if self._append_before is None:
            return False
        if not leads or self.checkpoints == 0:
            return True
        return api_timestamp(max(lead["updated_at"] for lead in leads)) < self._append_before

    def _check_append(self, client: MegaClient, params: dict[str, str], since: str | None) -> None:
        """The newest `updated_at` as the sweep begins: one `limit=1` request, descending."""
        self._append_checked = True
        if not self.empty_table:
            return
        probe = {**params, "sort_dir": "desc", "limit": "1"}
        if since:
            probe["updated_since"] = since
        newest = self.client_leads(client, probe)
        self._append_before = api_timestamp(newest[0]["updated_at"]) if newest else None

    @staticmethod
    def client_leads(client: MegaClient, params: dict[str, str]) -> list[dict[str, Any]]:
        body = client.list_leads(params, context="newest lead")
        leads = body.get("leads")
        return check_page_leads(leads, "newest lead") if leads is not None else []

    def _open_items(self, config: SourceConfig, stream_state: dict[str, Any]) -> _Rewindable:
        if self._items is not None:
            return self._items
        client, params = self.client(config), config.list_params()
        if stream_state.get("ranges"):
            self.close_spawned()
            self._ranges = RangeStreams(
                client, params, stream_state["ranges"], config.prefetch_pages
            )
            if not self._append_checked:
                self._append_checked = True
                self._append_before = (
                    stream_state["ranges"][-1]["end"] if self.empty_table else None
                )
            ranged = (_Item(r.range_index, r.page, r.done) for r in self._ranges)
            self._items = _Rewindable(ranged)
            return self._items
        start = start_position(stream_state, config)
        log.info(
            "sweep starts: %s",
            f"cursor of an interrupted run (mark {start.updated_since})"
            if start.cursor
            else f"updated_since={start.updated_since or 'the beginning'}",
        )
        if not self._append_checked:
            self._check_append(client, params, start.updated_since)
        self._stream = SweepStream(
            client,
            params,
            start,
            prefetch=config.prefetch_pages,
            child_min_leads=config.fetch_process_min_leads,
            child_buffer_pages=settings.FETCH_PROCESS_BUFFER_PAGES,
            spawned=self._spawned,
        )
        self._spawned = None
        stream = self._stream
        self._items = _Rewindable(
            (_Item(None, p, p.next_cursor is None) for p in stream), ready=stream.ready
        )
        return self._items

    def _record(self, item: _Item, stream_state: dict[str, Any]) -> None:
        page = item.page
        if item.range_index is None:
            stream_state["cursor"] = page.next_cursor
            advance_mark(stream_state, page.leads)
            if self.total is None and self._stream is not None:
                self.total = self._stream.first_total
            self.done = item.last
            return
        ranges: list[dict[str, Any]] = stream_state["ranges"]
        entry = ranges[item.range_index]
        entry["cursor"] = None if item.last else page.next_cursor
        entry["done"] = item.last
        entry["mark"] = newest_of(entry.get("mark"), page.leads)
        if all(r["done"] for r in ranges):
            # Everything older than the plan's newest instant is loaded; the ordinary sweep
            # from that instant (inclusive) loads whatever changed meanwhile.
            stream_state["high_water_mark"] = ranges[-1]["end"]
            stream_state["mark_versions"] = {}
            del stream_state["ranges"]
            self._items = None

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

    def _measure_lateness(self, leads: list[dict[str, Any]], previous_mark: str | None) -> None:
        if previous_mark is None:
            return
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

    def reconcile_batches(self, config: SourceConfig) -> Iterator[Batch]:
        plan = self.reconcile
        assert plan is not None
        plan.sweep(self.client(config), config)
        self.pages += plan.pages
        yield from plan.batches()
