"""A sweep of a keyset-paged list (``EndpointSpec``) in checkpoints: sequential, or parallel
ranges first for a backfill; rows shaped to arrow as pages arrive (``checkpoints.py``).

A load never holds two versions of an item: when a page repeats an item already in the load (it
was updated mid-run and moved to the end of the sort), the checkpoint ends before that page and
the newer version opens the next load. The loop itself, and how a failure or an interrupt ends
a checkpoint with the pages received, is ``checkpoint_sweep.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from sources.core.endpoint import EndpointSpec

from .append import AppendPolicy
from .checkpoint_sweep import CheckpointSweep, OpenClient, ProgressReport
from .checkpoints import KeysetLoad, Rewindable, SweepItem
from .counters import RunCounters
from .lateness import LatenessMeter
from .loads import Batch, DestinationHooks, Hints
from .options import SweepOptions
from .plan import SweepPlanner
from .ranges import RangeStreams
from .state import already_loaded, move_over_page
from .sweep_stream import FetchAhead, SweepStream


class KeysetSweep(CheckpointSweep):
    """What one run keeps across its checkpoint loads: the client and the open page streams.

    Everything the runner decides comes in here: whether the tables are empty (append-or-merge),
    the versions loaded inside the lookback window, how progress is shown, the destination's
    hooks, a fetch process started ahead, the Ctrl-C flag (``CheckpointSweep``)."""

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
        self._current = Rewindable(iter(()))  # the items the open load reads

    def _closables(self) -> tuple[Any, ...]:
        return self._stream, self._ranges, self._ahead

    def table_hints(self, table_format: str | None) -> tuple[Hints, Hints]:
        merge, appended = self.spec.hints(table_format)
        return merge, appended

    def _open_load(self, stream_state: dict[str, Any]) -> KeysetLoad:
        return KeysetLoad(
            self.spec,
            self.counters,
            stream_state,
            lambda item: self._record(item, stream_state),
            self.hooks.stored_keys,
            self.hooks.row_group,
        )

    def _pages(self, stream_state: dict[str, Any]) -> Iterator[SweepItem]:
        self._current = self._open_items(stream_state)
        return self._current

    def _take(self, load: KeysetLoad, item: SweepItem) -> int | None:
        counters = self.counters
        if item.range_index is None and counters.total is None and self._stream is not None:
            # Known with the first page: the progress shows it from then on.
            counters.total = self._stream.first_total
            if self._progress is not None:
                self._progress.set_total(counters.total)
        page_items = self._new_items(item)
        fits_append = self._append.fits(page_items, self.counters.checkpoints == 0)
        page_ids = {x[self.spec.keyset.id_field] for x in page_items}
        if load.in_load and (
            not load.in_load.isdisjoint(page_ids) or (load.append and not fits_append)
        ):
            self._current.push_back(item)  # it opens the next load
            return None
        load.append = fits_append if load.append is None else load.append
        if item.range_index is None and self._lateness is not None:
            self._lateness.measure(page_items)
        load.add(item, page_items)
        return len(item.page.items)

    def _ready(self, load: KeysetLoad) -> Iterator[Batch]:
        options = self.options
        if load.pending_rows < options.shape_rows:
            return
        self._fail(load.shape_pending())
        # Waiting for the next page anyway (a slow API): hand dlt what is shaped now, so that
        # little is left to write after the last page.
        idle = self.failure is None and not self._current.ready()
        if idle or load.shaped_rows >= options.yield_rows:
            yield load.joined()

    def _load_ends(self) -> bool:
        return self._items is None  # the parallel ranges are done: the sweep from their end next

    def _settle(self, load: KeysetLoad) -> None:
        self._fail(load.shape_pending())

    def _last(self, load: KeysetLoad) -> Iterator[Batch]:
        if load.has_rows:
            yield load.joined(final=True)

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

    def _new_items(self, item: SweepItem) -> list[dict[str, Any]]:
        """The page's items, without the versions an earlier run loaded at the mark."""
        before = self.counters.state_before or {}
        at_mark: dict[str, str] = before.get("mark_versions") or {}
        if item.range_index is not None or not at_mark:
            return item.page.items
        mark = before.get("high_water_mark")
        spec = self.spec
        return [x for x in item.page.items if not already_loaded(spec, x, at_mark, mark)]

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
            counters.done = item.last
        elif ranges_done:
            self._items = None  # the ordinary sweep from the ranges' end follows
