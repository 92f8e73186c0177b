"""One run's sweep, split into checkpoints: loads whose rows and state dlt commits together.

Pages are shaped to arrow about every thousand leads and handed to dlt in items of ~25k leads,
so memory stays bounded by a few tens of megabytes, not by the checkpoint. A load never holds
two versions of a lead: when a page repeats a lead already in the load (it was updated mid-run
and moved to the end of the sort), the checkpoint ends before that page and the newer version
opens the next load.

A sweep that stops early (retries spent, a 401, a malformed page, Ctrl-C) ends the checkpoint
there: the pages already received are handed to dlt with the state over exactly them, and the
runner raises the stored ``failure`` once dlt has committed them.
"""

from __future__ import annotations

import copy
import logging
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from sources.core.errors import Interrupted, MalformedResponseError, MegaError
from sources.core.pacing import ClientStats, RateLimitPacer

from . import settings
from .client import MegaClient
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
    with_removed_slugs,
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
NEWEST_LEAD = "probing the newest lead"  # the context of that request's errors


def _rows_or_none(table: pa.Table | None) -> pa.Table | None:
    return table if table is not None and len(table) else None


@dataclass(frozen=True)
class _Item:
    range_index: int | None  # None: the sequential sweep
    page: Page
    last: bool  # the last page of its sweep or range


@dataclass
class _Load:
    """One checkpoint's pages on their way to dlt. Received pages wait in ``pending`` until
    they are shaped; only then does the state move over them (``SyncSession._record``)."""

    started: float
    append: bool | None = None  # decided by the load's first page
    received: int = 0
    in_load: set[str] = field(default_factory=set)
    pending: list[tuple[_Item, list[dict[str, Any]]]] = field(default_factory=list)
    pending_rows: int = 0
    shaped: list[Batch] = field(default_factory=list)
    shaped_pages: int = 0
    rows: int = 0  # leads shaped
    carried: pa.Table | None = None  # custom-field rows short of a whole row group

    def add(self, item: _Item, leads: list[dict[str, Any]]) -> None:
        self.in_load |= {lead["id"] for lead in leads}
        self.pending.append((item, leads))
        self.pending_rows += len(leads)
        self.received += 1


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


class ProgressReport(Protocol):
    """Told of every page received and of the leads due, once the API says."""

    def set_total(self, total: int | None) -> None: ...

    def advance(self, pages: int, leads: int) -> None: ...

    def close(self) -> None: ...


@dataclass
class SyncSession:
    """What one run keeps across its checkpoint loads: client, open page streams, counters."""

    stats: ClientStats = field(default_factory=ClientStats)
    pages: int = 0  # handed to dlt, the state moved over them
    leads: int = 0
    checkpoints: int = 0
    committed_pages: int = 0  # of ``pages``, those dlt has committed (set by the runner)
    done: bool = False
    # Set by the runner's Ctrl-C / SIGTERM handler: the sweep stops between pages, and every
    # wait (rate-limit pause, retry backoff, a page not yet fetched) ends at once.
    stop: threading.Event = field(default_factory=threading.Event)
    # What stopped the sweep early; the runner raises it once the pages before it are committed.
    failure: MegaError | None = None
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
    # How the sweep's progress is shown (the runner's choice); None: not shown.
    progress: ProgressReport | None = None
    # Lakehouse tables (upsert by (lead_id, slug), no delete by lead): the table format, and the
    # slugs stored for given leads, so that removed ones get tombstone rows.
    table_format: str | None = None
    stored_slugs: Callable[[list[str]], dict[str, set[str]]] | None = None
    # Where the connector deletes by lead itself (Iceberg): called on each merged batch first.
    before_load: Callable[[pa.Table, pa.Table | None], tuple[pa.Table, pa.Table | None]] | None = (
        None
    )
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
        if self.progress is not None:
            self.progress.close()
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
                sleep=self._wait,
            )
            self._client = MegaClient(
                config.base_url,
                config.api_token,
                config.customer_id,
                timeout=config.timeout,
                retry=config.retry,
                pacer=pacer,
                sleep=self._wait,
            )
        return self._client

    def _wait(self, seconds: float) -> None:
        """The client's sleep (rate-limit pauses, retry backoff): Ctrl-C ends it at once."""
        if self.stop.wait(seconds):
            raise Interrupted("interrupted during a wait")

    def checkpoint(self, config: SourceConfig, resource_state: dict[str, Any]) -> Iterator[Batch]:
        """Read one checkpoint's pages, moving the state over each as its rows are shaped for
        dlt; dlt commits the rows and the state in one package."""
        stream_state = stream_state_for(resource_state, config)
        if self.state_before is None:
            self.state_before = copy.deepcopy(stream_state)
            self._plan_ranges(config, stream_state)
        items = self._open_items(config, stream_state)
        load = _Load(started=time.monotonic())
        for item in self._received(items):
            leads = self._new_leads(item)
            fits_append = self._appendable(leads)
            page_ids = {lead["id"] for lead in leads}
            if load.in_load and (
                not load.in_load.isdisjoint(page_ids) or (load.append and not fits_append)
            ):
                items.push_back(item)  # it opens the next load
                break
            load.append = fits_append if load.append is None else load.append
            if item.range_index is None and self.known_versions is not None:
                self._measure_lateness(leads, self.state_before.get("high_water_mark"))
            load.add(item, leads)
            if self.progress is not None:
                self.progress.advance(1, len(item.page.leads))
            if load.pending_rows >= settings.SHAPE_ROWS:
                self._shape_pending(load, stream_state)
                # Waiting for the next page anyway (a slow API): hand dlt what is shaped now,
                # so that little is left to write after the last page.
                idle = self.failure is None and not items.ready()
                if idle or sum(len(batch[0]) for batch in load.shaped) >= settings.YIELD_ROWS:
                    yield self._joined(load, stream_state)
            if self.failure or self._items is None or self._budget_spent(config, load):
                break
        self._shape_pending(load, stream_state)
        if self.failure is not None and not load.shaped_pages:
            raise self.failure  # nothing received in this load: nothing to commit
        if load.shaped or load.carried is not None:
            yield self._joined(load, stream_state, final=True)
        self._end_checkpoint(load)

    def _received(self, items: _Rewindable) -> Iterator[_Item]:
        """The sweep's pages until it ends, fails or is interrupted; a failure is kept in
        ``failure`` so that the pages before it can still be committed."""
        while not self.stop.is_set():
            try:
                yield next(items)
            except StopIteration:
                return
            except MegaError as exc:
                self.failure = exc
                return
        self.failure = Interrupted("interrupted between pages")

    def _new_leads(self, item: _Item) -> list[dict[str, Any]]:
        """The page's leads, without the versions an earlier run loaded at the mark."""
        before = self.state_before or {}
        at_mark: dict[str, str] = before.get("mark_versions") or {}
        if item.range_index is not None or not at_mark:
            return item.page.leads
        mark = before.get("high_water_mark")
        return [x for x in item.page.leads if not already_loaded(x, at_mark, mark)]

    def _shape_pending(self, load: _Load, stream_state: dict[str, Any]) -> None:
        """Shape the received pages and move the state over them. A page that cannot be shaped
        (a wrong-typed field) stops the sweep there: the pages before it are still loaded."""
        pages, rows = load.pending, load.pending_rows
        load.pending, load.pending_rows = [], 0
        # No rows: nothing new on them (versions loaded at the mark); only the state moves.
        shaped = self._shape_all(pages, load) if rows else pages
        for item, _ in shaped:
            self._record(item, stream_state)
        load.shaped_pages += len(shaped)

    def _shape_all(
        self, pages: list[tuple[_Item, list[dict[str, Any]]]], load: _Load
    ) -> list[tuple[_Item, list[dict[str, Any]]]]:
        try:
            where = f"pages {self.pages + 1}-{self.pages + len(pages)}"
            load.shaped.append(self._shape([x for _, leads in pages for x in leads], load, where))
            return pages
        except MalformedResponseError:
            return self._shape_each(pages, load)

    def _shape_each(
        self, pages: list[tuple[_Item, list[dict[str, Any]]]], load: _Load
    ) -> list[tuple[_Item, list[dict[str, Any]]]]:
        """The pages up to the first that fails to shape, each shaped alone; that one's error
        (naming its page) becomes the sweep's failure."""
        for position, (_, leads) in enumerate(pages):
            try:
                where = f"page {self.pages + position + 1}"
                load.shaped.append(self._shape(leads, load, where))
            except MalformedResponseError as exc:
                self.failure = exc
                return pages[:position]
        return pages

    def _end_checkpoint(self, load: _Load) -> None:
        # The checkpoint's arrow buffers are written and freed; arrow's allocator (mimalloc)
        # would keep their pages through the load, which is the run's peak (−30 MB at 100k).
        pa.default_memory_pool().release_unused()
        self.checkpoints += 1
        log.info(
            "checkpoint %d: %d pages, %d leads (run total: %d pages, %d leads, %d requests)",
            self.checkpoints,
            load.shaped_pages,
            load.rows,
            self.pages,
            self.leads,
            self.stats.requests,
        )

    @staticmethod
    def _budget_spent(config: SourceConfig, load: _Load) -> bool:
        if config.checkpoint_pages is None:
            return False
        return (
            load.received >= config.checkpoint_pages
            or time.monotonic() - load.started >= config.checkpoint_seconds
        )

    def _shape(self, leads: list[dict[str, Any]], load: _Load, where: str) -> Batch:
        # Appended leads are new to the tables: no old custom-field rows to delete.
        append = bool(load.append)
        fields = custom_fields_table(leads, where, tombstones=not append)
        if self.stored_slugs is not None and not append:
            fields = with_removed_slugs(fields, self.stored_slugs)
        batch = leads_table(leads, where), fields, append
        self.leads += len(leads)
        load.rows += len(leads)
        return batch

    def _joined(self, load: _Load, stream_state: dict[str, Any], final: bool = False) -> Batch:
        """One item for dlt out of the load's shaped ones; custom-field rows short of a whole
        row group are carried to the load's next item. dlt writes each item's table as parquet
        row groups; whole DuckDB row groups load without a merge of partial ones. The load's
        last item (``final``) takes every row left."""
        self.state_after = copy.deepcopy(stream_state)
        shaped, load.shaped = load.shaped, []
        fields = [load.carried] if load.carried is not None else []
        fields += [batch[1] for batch in shaped if batch[1] is not None]
        joined = pa.concat_tables(fields) if fields else None
        load.carried = None
        if joined is not None and not final:
            whole = len(joined) - len(joined) % settings.DUCKDB_ROW_GROUP
            joined, load.carried = joined.slice(0, whole), _rows_or_none(joined.slice(whole))
        # No shaped leads when only carried rows are left (the previous item ended the pages).
        leads = pa.concat_tables([b[0] for b in shaped]) if shaped else LEADS_SCHEMA.empty_table()
        return leads, _rows_or_none(joined), bool(load.append)

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
        body = client.list_leads(params, context=NEWEST_LEAD)
        leads = body.get("leads")
        return check_page_leads(leads, NEWEST_LEAD) if leads is not None else []

    def _open_items(self, config: SourceConfig, stream_state: dict[str, Any]) -> _Rewindable:
        if self._items is not None:
            return self._items
        client, params = self.client(config), config.list_params()
        if stream_state.get("ranges"):
            self.close_spawned()
            self._ranges = RangeStreams(
                client, params, stream_state["ranges"], config.prefetch_pages, self.stop
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
            interrupt=self.stop,
        )
        self._spawned = None
        stream = self._stream
        self._items = _Rewindable(
            (_Item(None, p, p.next_cursor is None) for p in stream), ready=stream.ready
        )
        return self._items

    def _record(self, item: _Item, stream_state: dict[str, Any]) -> None:
        page = item.page
        self.pages += 1
        if item.range_index is None:
            stream_state["cursor"] = page.next_cursor
            advance_mark(stream_state, page.leads)
            if self.total is None and self._stream is not None:
                self.total = self._stream.first_total
                if self.progress is not None:
                    self.progress.set_total(self.total)
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
            self.stop,
        )
        if ranges:
            stream_state["ranges"] = ranges
        if self.progress is not None:
            self.progress.set_total(self.total)

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
        plan.sweep(self.client(config), config, self.stop)
        self.pages += plan.pages
        for leads, fields, append in plan.batches():
            if self.stored_slugs is not None and fields is not None:
                fields = with_removed_slugs(fields, self.stored_slugs)
            yield leads, fields, append
