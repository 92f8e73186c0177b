"""One run's sweep, split into checkpoints: loads whose rows and state dlt commits together.

A load never holds two versions of an item: when a page repeats an item already in the load (it
was updated mid-run and moved to the end of the sort), the checkpoint ends before that page and
the newer version opens the next load.

A sweep that stops early (retries spent, a 401, a malformed page, Ctrl-C) ends the checkpoint
there: the pages already received are handed to dlt with the state over exactly them, and the
runner raises the stored ``failure`` once dlt has committed them.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from sources.core.endpoint import EndpointSpec
from sources.core.errors import ConnectorError, Interrupted
from sources.mega import settings

from .append import AppendPolicy
from .checkpoints import CheckpointLoad, Rewindable, SweepItem
from .counters import RunCounters
from .lateness import LatenessMeter
from .loads import Batch, DestinationHooks
from .options import SweepOptions
from .plan import SweepPlanner
from .ranges import RangeStreams
from .run_session import OpenClient, ProgressReport, RunSession
from .state import already_loaded, move_over_page, stream_state_for
from .sweep_stream import FetchAhead, SweepStream

log = logging.getLogger("crm_leads.core")


class SyncSession(RunSession):
    """What one run keeps across its checkpoint loads: the client and the open page streams.

    Everything the runner decides comes in here: whether the tables are empty (append-or-merge),
    the versions loaded inside the lookback window, how progress is shown, the destination's
    hooks, a fetch process started ahead, the Ctrl-C flag (``RunSession``)."""

    def __init__(
        self,
        spec: EndpointSpec,
        options: SweepOptions,
        open_client: OpenClient,
        *,
        counters: RunCounters | None = None,
        stop: threading.Event | None = None,
        hooks: DestinationHooks | None = None,
        empty_table: bool = False,
        known_versions: dict[str, str] | None = None,
        progress: ProgressReport | None = None,
        ahead: FetchAhead | None = None,
        one_load: bool = False,
    ) -> None:
        super().__init__(open_client, counters, stop, hooks, progress, one_load)
        self.spec = spec
        self.options = options
        self._known_versions = known_versions
        self._ahead = ahead
        self._planner = SweepPlanner(spec, options)
        self._append = AppendPolicy(spec, empty_table)
        self._lateness: LatenessMeter | None = None
        self._stream: SweepStream | None = None
        self._ranges: RangeStreams | None = None
        self._items: Rewindable | None = None

    def close(self) -> None:
        if self._progress is not None:
            self._progress.close()
        for closable in (self._stream, self._ranges, self._client, self._ahead):
            if closable is not None:
                closable.close()

    def batches(self, resource_state: dict[str, Any]) -> Iterator[Batch]:
        return self.checkpoint(resource_state)

    def checkpoint(self, resource_state: dict[str, Any]) -> Iterator[Batch]:
        """Read one checkpoint's pages, moving the state over each as its rows are shaped for
        dlt; dlt commits the rows and the state in one package."""
        counters, options = self.counters, self.options
        stream_state = stream_state_for(resource_state, options.stream_key, options.filters)
        if counters.state_before is None:
            counters.state_before = copy.deepcopy(stream_state)
            self._begin(stream_state)
        items = self._open_items(stream_state)
        load = CheckpointLoad(
            self.spec,
            counters,
            stream_state,
            lambda item: self._record(item, stream_state),
            self.hooks.stored_keys,
        )
        id_field = self.spec.keyset.id_field
        for item in self._received(items):
            page_items = self._new_items(item)
            fits_append = self._append.fits(page_items, counters.checkpoints == 0)
            page_ids = {x[id_field] for x in page_items}
            if load.in_load and (
                not load.in_load.isdisjoint(page_ids) or (load.append and not fits_append)
            ):
                items.push_back(item)  # it opens the next load
                break
            load.append = fits_append if load.append is None else load.append
            if item.range_index is None and self._lateness is not None:
                self._lateness.measure(page_items)
            load.add(item, page_items)
            if self._progress is not None:
                self._progress.advance(1, len(item.page.leads))
            if load.pending_rows >= settings.SHAPE_ROWS:
                self._fail(load.shape_pending())
                # Waiting for the next page anyway (a slow API): hand dlt what is shaped now,
                # so that little is left to write after the last page.
                idle = self.failure is None and not items.ready()
                if idle or load.shaped_rows >= settings.YIELD_ROWS:
                    yield load.joined()
            if self.failure or self._items is None or self._budget_spent(load):
                break
        self._fail(load.shape_pending())
        if self.failure is not None and not load.shaped_pages:
            raise self.failure  # nothing received in this load: nothing to commit
        if load.has_rows:
            yield load.joined(final=True)
        self._end_checkpoint(load)

    def _fail(self, failure: ConnectorError | None) -> None:
        if failure is not None:
            self.failure = failure

    def _begin(self, stream_state: dict[str, Any]) -> None:
        """The run's first checkpoint: parallel ranges planned, lookback measured from the
        mark the run began at."""
        total = self._planner.ranges(self.client(), stream_state, self.stop)
        if total is not None:
            self.counters.total = total
            if self._progress is not None:
                self._progress.set_total(total)
        if self._known_versions is not None:
            mark = stream_state.get("high_water_mark")
            self._lateness = LatenessMeter(self.spec, self._known_versions, mark, self.counters)

    def _received(self, items: Rewindable) -> Iterator[SweepItem]:
        """The sweep's pages until it ends, fails or is interrupted; a failure is kept in
        ``failure`` so that the pages before it can still be committed."""
        while not self.stop.is_set():
            try:
                yield next(items)
            except StopIteration:
                return
            except ConnectorError as exc:
                self.failure = exc
                return
        self.failure = Interrupted("interrupted between pages")

    def _new_items(self, item: SweepItem) -> list[dict[str, Any]]:
        """The page's items, without the versions an earlier run loaded at the mark."""
        before = self.counters.state_before or {}
        at_mark: dict[str, str] = before.get("mark_versions") or {}
        if item.range_index is not None or not at_mark:
            return item.page.leads
        mark = before.get("high_water_mark")
        spec = self.spec
        return [x for x in item.page.leads if not already_loaded(spec, x, at_mark, mark)]

    def _end_checkpoint(self, load: CheckpointLoad) -> None:
        # The checkpoint's arrow buffers are written and freed; arrow's allocator (mimalloc)
        # would keep their pages through the load, which is the run's peak memory.
        pa.default_memory_pool().release_unused()
        counters = self.counters
        counters.checkpoints += 1
        log.info(
            "checkpoint %d: %d pages, %d %s (run total: %d pages, %d %s, %d requests)",
            counters.checkpoints,
            load.shaped_pages,
            load.rows,
            self.spec.keyset.items_key,
            counters.pages,
            counters.items,
            self.spec.keyset.items_key,
            counters.stats.requests,
        )

    def _budget_spent(self, load: CheckpointLoad) -> bool:
        if self.one_load:
            return False
        return (
            load.received >= self.options.checkpoint_pages
            or time.monotonic() - load.started >= self.options.checkpoint_seconds
        )

    def _open_items(self, stream_state: dict[str, Any]) -> Rewindable:
        if self._items is not None:
            return self._items
        client, options = self.client(), self.options
        if stream_state.get("ranges"):
            if self._ahead is not None:
                self._ahead.close()
            self._ranges = RangeStreams(
                self.spec,
                client,
                options.params,
                stream_state["ranges"],
                options.prefetch_pages,
                self.stop,
            )
            if not self._append.decided:
                self._append.decide_for_ranges(stream_state["ranges"])
            ranged = (SweepItem(r.range_index, r.page, r.done) for r in self._ranges)
            self._items = Rewindable(ranged)
            return self._items
        start = self._planner.start(stream_state)
        if not self._append.decided:
            self._append.decide_for_sweep(client, options.params, start.updated_since)
        self._stream = SweepStream(
            self.spec.keyset,
            client,
            options.params,
            start,
            prefetch=options.prefetch_pages,
            child_min_leads=options.fetch_process_min_items,
            child_buffer_pages=options.fetch_process_buffer_pages,
            spawned=self._ahead.take() if self._ahead is not None else None,
            interrupt=self.stop,
        )
        stream = self._stream
        self._items = Rewindable(
            (SweepItem(None, p, p.next_cursor is None) for p in stream), ready=stream.ready
        )
        return self._items

    def _record(self, item: SweepItem, stream_state: dict[str, Any]) -> None:
        counters = self.counters
        counters.pages += 1
        page, index = item.page, item.range_index
        ranges_done = move_over_page(self.spec, stream_state, index, page, item.last)
        if item.range_index is None:
            if counters.total is None and self._stream is not None:
                counters.total = self._stream.first_total
                if self._progress is not None:
                    self._progress.set_total(counters.total)
            counters.done = item.last
        elif ranges_done:
            self._items = None  # the ordinary sweep from the ranges' end follows
