"""The sequential sweep: its first page fetched here, the rest by a prefetch thread or, when the
first page's total says a long sweep is due, by a fetch process (``fetch_process.py``).
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Generator, Iterator, Mapping
from typing import Any

from sources.core import errors
from sources.core.endpoint import Keyset

from .fetch_process import ChildPageStream, discard_fetch_process, spawn_fetch_process
from .paging import Page, PageStream, StartPosition

log = logging.getLogger("crm_leads.core")


class FetchAhead:
    """A fetch process started while the run sets up, for a sweep that is likely long (a
    backfill): it then imports meanwhile instead of after the first page. The sweep takes it;
    ``close`` ends one that no sweep took."""

    def __init__(self) -> None:
        self._spawned: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self._spawned is None:
            try:
                self._spawned = spawn_fetch_process()
            except OSError as exc:  # the sweep will fall back to a thread, and say so
                log.debug("fetch process not started ahead: %s", exc)

    def take(self) -> subprocess.Popen[bytes] | None:
        spawned, self._spawned = self._spawned, None
        return spawned

    def close(self) -> None:
        spawned = self.take()
        if spawned is not None:
            discard_fetch_process(spawned)


class SweepStream:
    """Pages of one sweep in order: the first from this process; the rest from a child process
    when more than ``child_min_leads`` leads are due, else from a prefetch thread."""

    def __init__(
        self,
        keyset: Keyset,
        client: Any,
        params: Mapping[str, str],
        start: StartPosition,
        prefetch: int,
        child_min_leads: int,
        child_buffer_pages: int,
        spawned: subprocess.Popen[bytes] | None = None,
        interrupt: threading.Event | None = None,
    ) -> None:
        self._keyset = keyset
        self._client, self._params, self._start = client, dict(params), start
        self._interrupt = interrupt
        self._prefetch = prefetch
        self._child_min_leads = child_min_leads
        self._child_buffer_pages = child_buffer_pages
        self._spawned = spawned  # a fetch process started ahead, waiting for its task
        self.first_total: int | None = None
        self._rest: PageStream | ChildPageStream | None = None
        self._pages = self._all_pages()

    def __iter__(self) -> Iterator[Page]:
        return self._pages

    def ready(self) -> bool:
        """Whether the next page is already here (if not, the caller has time to spare)."""
        return self._rest is None or self._rest.ready()

    def close(self) -> None:
        if self._rest is not None:
            self._rest.close()
        self._pages.close()
        self._discard_spawned()

    def _discard_spawned(self) -> None:
        if self._spawned is not None:
            discard_fetch_process(self._spawned)
            self._spawned = None

    def _all_pages(self) -> Generator[Page, None, None]:
        head = PageStream(
            self._keyset,
            self._client,
            self._params,
            self._start,
            prefetch=0,
            interrupt=self._interrupt,
        )
        first = next(iter(head))
        head.close()
        self.first_total = head.first_total
        yield first
        if first.next_cursor is None:
            return
        rest = StartPosition(first.next_cursor, self._start.updated_since, cursor_saved=False)
        due = (self.first_total or 0) - len(first.items)
        if 0 < self._child_min_leads < due:
            noun = self._keyset.items_key
            log.info("%d %s due: fetching in a child process", self.first_total, noun)
            yield from self._child_pages(rest)
        else:
            yield from self._thread_pages(rest)

    def _thread_pages(self, rest: StartPosition) -> Iterator[Page]:
        self._discard_spawned()
        self._rest = PageStream(
            self._keyset,
            self._client,
            self._params,
            rest,
            prefetch=self._prefetch,
            first_number=2,
            interrupt=self._interrupt,
        )
        return self._rest

    def _child_pages(self, rest: StartPosition) -> Generator[Page, None, None]:
        """The child's pages; if it fails before its first page (say, it cannot start in an
        embedded interpreter), this process fetches them: nothing was read from the child, so
        nothing is read twice."""
        try:
            spawned, self._spawned = self._spawned, None
            child = ChildPageStream(
                self._keyset,
                self._client,
                self._params,
                rest,
                self._child_buffer_pages,
                first_number=2,
                spawned=spawned,
                interrupt=self._interrupt,
            )
            self._rest = child
            first = next(child, None)
        except (OSError, errors.FetchProcessError) as exc:
            log.warning(
                "the fetch process failed before its first page (%s): fetching in this process",
                exc,
            )
            if self._rest is not None:
                self._rest.close()
            yield from self._thread_pages(rest)
            return
        if first is not None:
            yield first
            yield from child
