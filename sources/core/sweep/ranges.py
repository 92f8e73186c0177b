"""Parallel backfill: split `updated_at` into equal-count ranges and page each with its own worker.

The keyset cursor makes one stream sequential, but the total with the since-parameter (001: "Total
matching the filter (ignores cursor/offset)") counts the leads at/after any instant in one
`limit=1` request, so range boundaries holding equal numbers of leads are found by bisection.

Exactness: the ranges partition ``[start, M)`` where M is the newest `updated_at` when the plan
is made. A lead updated during the backfill gets `updated_at >= M`, so only the ordinary
sequential sweep from M, which runs after every range is done, can load its new version: an old
version loaded by a range can never overwrite a newer one.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sources.core.endpoint import EndpointSpec
from sources.core.errors import Interrupted, MalformedResponseError

from .handoff import Handoff
from .paging import Page, PageStream, StartPosition

log = logging.getLogger("crm_leads.core")

# Fewer pages than this per worker and splitting costs more probes than it saves.
MIN_PAGES_PER_WORKER = 20
PLANNING = "planning the parallel ranges"  # the context of the probes' errors


def _probe(
    spec: EndpointSpec, client: Any, params: Mapping[str, str], **extra: str
) -> dict[str, Any]:
    keyset = spec.keyset
    query = {**params, **extra, keyset.limit_param: "1"}
    body = client.decode_object(keyset.request(client, query, PLANNING), PLANNING)
    if not isinstance(body.get(keyset.total_field), int) or not isinstance(
        body.get(keyset.items_key), list
    ):
        raise MalformedResponseError(
            f"{PLANNING}: the answer has no integer `{keyset.total_field}` / `{keyset.items_key}`"
        )
    return body


def count_since(spec: EndpointSpec, client: Any, params: Mapping[str, str], since: datetime) -> int:
    keyset = spec.keyset
    extra = {keyset.since_param: spec.format_time(since)}
    return int(_probe(spec, client, params, **extra)[keyset.total_field])


def plan_ranges(
    spec: EndpointSpec,
    client: Any,
    params: Mapping[str, str],
    start: str | None,
    workers: int,
    interrupt: threading.Event | None = None,
) -> tuple[int, list[dict[str, Any]] | None]:
    """(total, ranges ``{"start", "end", "cursor", "done"}`` or None when not worth it)."""
    keyset = spec.keyset
    since = {keyset.since_param: start} if start else {}
    first = _probe(spec, client, params, **since)
    total = int(first[keyset.total_field])
    if (
        workers < 2
        or keyset.sort_dir_param is None
        or total < workers * MIN_PAGES_PER_WORKER * keyset.page_limit
    ):
        return total, None
    last = _probe(spec, client, params, **since, **{keyset.sort_dir_param: keyset.descending})
    low = spec.parse_time(first[keyset.items_key][0][keyset.timestamp_field])
    newest = spec.parse_time(last[keyset.items_key][0][keyset.timestamp_field])
    targets = [total * (workers - index) // workers for index in range(1, workers)]
    tolerance = max(1, total // (20 * workers))
    stop = interrupt or threading.Event()

    def bisect(target: int) -> datetime:
        return _bisect(spec, client, params, (low, newest), target, tolerance, stop)

    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        cuts = list(pool.map(bisect, targets))
    fmt = spec.format_time
    bounds = [start, *sorted({fmt(cut) for cut in cuts}), fmt(newest)]
    ranges = [
        {"start": lo, "end": hi, "cursor": None, "done": False}
        for lo, hi in itertools.pairwise(bounds)
        if lo != hi
    ]
    log.info("parallel backfill: %d leads in %d ranges, %s", total, len(ranges), bounds)
    return total, ranges


def _bisect(
    spec: EndpointSpec,
    client: Any,
    params: Mapping[str, str],
    bounds: tuple[datetime, datetime],
    target: int,
    tolerance: int,
    stop: threading.Event,
) -> datetime:
    """The instant with about ``target`` leads at/after it (5% of a range is close enough)."""
    low, high = bounds
    while high - low > timedelta(milliseconds=1):
        if stop.is_set():  # a few dozen probes: not worth finishing after Ctrl-C
            raise Interrupted(f"interrupted while {PLANNING}")
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=middle.microsecond // 1000 * 1000)
        count = count_since(spec, client, params, middle)
        if abs(count - target) <= tolerance:
            return middle
        if count > target:
            low = middle
        else:
            high = middle
    return high


@dataclass(frozen=True)
class RangePage:
    range_index: int
    page: Page
    done: bool


class RangeStreams:
    """One prefetching stream per unfinished range, merged into one queue of pages."""

    def __init__(
        self,
        spec: EndpointSpec,
        client: Any,
        params: Mapping[str, str],
        ranges: list[dict[str, Any]],
        prefetch: int,
        interrupt: threading.Event | None = None,
    ) -> None:
        self._spec = spec
        self._handoff = Handoff(max(2, prefetch) * len(ranges), interrupt)
        self._open = 0
        self._threads: list[threading.Thread] = []
        for index, entry in enumerate(ranges):
            if entry["done"]:
                continue
            since = entry.get("mark") or entry["start"]
            start = StartPosition(cursor=entry["cursor"], updated_since=since)
            stream = PageStream(spec.keyset, client, params, start, prefetch=0, interrupt=interrupt)
            thread = threading.Thread(
                target=self._produce, args=(index, stream, entry["end"]), daemon=True
            )
            self._threads.append(thread)
            self._open += 1
        for thread in self._threads:
            thread.start()

    def __iter__(self) -> Iterator[RangePage]:
        while self._open:
            item = self._handoff.get()
            if isinstance(item, BaseException):
                self.close()
                raise item
            assert isinstance(item, RangePage)
            if item.done:
                self._open -= 1
            yield item

    def close(self) -> None:
        self._handoff.stop(self._threads)

    def _produce(self, index: int, stream: PageStream, end: str) -> None:
        parse, field = self._spec.parse_time, self._spec.keyset.timestamp_field
        limit = parse(end)
        try:
            for page in stream:
                inside = [x for x in page.items if parse(x[field]) < limit]
                done = page.next_cursor is None or len(inside) < len(page.items)
                item = RangePage(
                    index, Page(page.number, inside, page.next_cursor, page.total), done
                )
                if not self._handoff.put(item) or done:
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._handoff.put(exc)
