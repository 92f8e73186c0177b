"""The checkpoint loop every sweep shares, and what a sweep keeps for one run: the client
(opened on first use), the run's counters, the Ctrl-C flag, the destination's hooks, and the
failure that stopped it early.

``batches`` is one checkpoint: pages read until its budget is spent, the sweep ends, fails or
is interrupted; the state moves over exactly the pages whose rows are handed to dlt, which
commits rows and state in one package. A failure is kept in ``failure``, and the runner raises
it once the pages before it are committed. What a page means is the sweep's own (the hooks).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pyarrow as pa

from sources.core.errors import ConnectorError, Interrupted
from sources.core.pacing import ClientStats, stoppable_sleep

from .counters import RunCounters, plural
from .loads import Batch, DestinationHooks, Hints
from .state import stream_state_for

log = logging.getLogger("crm_leads.core")

# (stats, sleep) -> the API client; ``sleep`` is the run's interruptible wait.
OpenClient = Callable[[ClientStats, Callable[[float], None]], Any]


class ProgressReport(Protocol):
    """Told of every page received and of the items due, once the API says."""

    def set_total(self, total: int | None) -> None: ...

    def advance(self, pages: int, leads: int) -> None: ...

    def close(self) -> None: ...


class CheckpointLoad(Protocol):
    """One checkpoint's load, as the loop reads it."""

    @property
    def pages(self) -> int: ...  # pages whose rows (and state) the load hands to dlt

    @property
    def rows(self) -> int: ...


class CheckpointSweep:
    """``one_load``: no runner spreads the sweep over loads, so one load reads it all and
    closes the sweep at its end. Subclasses set ``spec`` and ``options`` (``stream_key``,
    ``filters``, ``checkpoint_pages``, ``checkpoint_seconds``) and implement the hooks."""

    spec: Any
    options: Any

    def __init__(
        self,
        open_client: OpenClient,
        counters: RunCounters | None,
        stop: threading.Event | None,
        hooks: DestinationHooks | None,
        progress: ProgressReport | None,
        one_load: bool,
    ) -> None:
        self.counters = counters if counters is not None else RunCounters()
        # Set by the runner's Ctrl-C / SIGTERM handler: the sweep stops between pages, and every
        # wait (rate-limit pause, retry backoff, a page not yet fetched) ends at once.
        self.stop = stop if stop is not None else threading.Event()
        self.hooks = hooks if hooks is not None else DestinationHooks()
        self.one_load = one_load
        # What stopped the sweep early; the runner raises it once the pages before it are
        # committed.
        self.failure: ConnectorError | None = None
        self._open_client = open_client
        self._progress = progress
        self._client: Any = None

    def close(self) -> None:
        if self._progress is not None:
            self._progress.close()
        for closable in (*self._closables(), self._client):
            if closable is not None:
                closable.close()

    def client(self) -> Any:
        if self._client is None:
            self._client = self._open_client(self.counters.stats, stoppable_sleep(self.stop))
        return self._client

    # ----- the loop ---------------------------------------------------------------------------

    def batches(self, resource_state: dict[str, Any]) -> Iterator[Batch]:
        """One checkpoint's batches for dlt."""
        options, counters = self.options, self.counters
        state = stream_state_for(resource_state, options.stream_key, options.filters)
        if counters.state_before is None:
            counters.state_before = copy.deepcopy(state)
            self._begin(state)
        load = self._open_load(state)
        started = time.monotonic()
        for received, page in enumerate(self._received(self._pages(state)), 1):
            items = self._take(load, page)
            if items is None:
                break  # the page opens the next load, or it failed
            if self._progress is not None:
                self._progress.advance(1, items)
            yield from self._ready(load)
            if self.failure is not None or self._load_ends() or self._spent(received, started):
                break
        self._settle(load)
        if self.failure is not None and not load.pages:
            raise self.failure  # nothing received in this load: nothing to commit
        yield from self._last(load)
        self._end_checkpoint(load, state)

    def _received(self, pages: Iterator[Any]) -> Iterator[Any]:
        """The sweep's pages until it ends, fails or is interrupted; a failure is kept in
        ``failure`` so that the pages before it can still be committed."""
        while not self.stop.is_set():
            if self.counters.done:
                return
            try:
                yield next(pages)
            except StopIteration:
                return
            except ConnectorError as exc:
                self.failure = exc
                return
        self.failure = Interrupted("interrupted between pages")

    def _spent(self, received: int, started: float) -> bool:
        """The checkpoint's budget (pages, seconds) is spent; never for a single load."""
        if self.one_load:
            return False
        options = self.options
        return (
            received >= options.checkpoint_pages
            or time.monotonic() - started >= options.checkpoint_seconds
        )

    def _end_checkpoint(self, load: CheckpointLoad, state: dict[str, Any]) -> None:
        # The checkpoint's arrow buffers are written and freed; arrow's allocator (mimalloc)
        # would keep their pages through the load, which is the run's peak memory.
        pa.default_memory_pool().release_unused()
        counters = self.counters
        counters.checkpoints += 1
        counters.state_after = copy.deepcopy(state)
        noun = self.spec.keyset.item_name
        details = f", {plural(counters.details, 'detail')}" if self.fetches_details else ""
        log.info(
            "checkpoint %d: %s, %s (run total: %s, %s%s, %s)",
            counters.checkpoints,
            plural(load.pages, "page"),
            plural(load.rows, noun),
            plural(counters.pages, "page"),
            plural(counters.items, noun),
            details,
            plural(counters.stats.requests, "request"),
        )

    def _fail(self, failure: ConnectorError | None) -> None:
        if failure is not None:
            self.failure = failure

    # ----- the hooks --------------------------------------------------------------------------

    fetches_details = False  # the log line counts detail requests

    def table_hints(self, table_format: str | None) -> tuple[Hints, Hints]:
        """((rows, child rows) merge hints, (rows, child rows) append hints)."""
        raise NotImplementedError

    def _closables(self) -> tuple[Any, ...]:
        """What the sweep opened (besides the client), closed with it."""
        return ()

    def _begin(self, state: dict[str, Any]) -> None:
        """The run's first checkpoint is about to read its first page."""

    def _open_load(self, state: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _pages(self, state: dict[str, Any]) -> Iterator[Any]:
        """The sweep's pages, from where ``state`` says (the same stream across checkpoints)."""
        raise NotImplementedError

    def _take(self, load: Any, page: Any) -> int | None:
        """Adds the page to the load: the items it listed, or None when it is not taken (left
        for the next load, or it failed: then ``failure`` is set)."""
        raise NotImplementedError

    def _ready(self, load: Any) -> Iterator[Batch]:
        """Batches ready before the load ends."""
        return iter(())

    def _load_ends(self) -> bool:
        """The load must end here even with budget left."""
        return False

    def _settle(self, load: Any) -> None:
        """The load is complete: finish what is pending (may set ``failure``)."""

    def _last(self, load: Any) -> Iterator[Batch]:
        """The load's remaining batches."""
        raise NotImplementedError
