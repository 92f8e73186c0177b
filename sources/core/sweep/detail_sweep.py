"""One run's sweep of a list + detail endpoint (``DetailEndpoint``), in checkpoints.

Each page is compared with what the warehouse holds (``known.py``): new or changed items are
fetched with up to K detail requests in flight, loaded items that the page's span no longer
lists are deleted (soft or hard), and unchanged items cost nothing. A detail answered 404 means
the item vanished between the list and the detail: a deletion, not a failure.

State per filter set (``state.py``'s stream entry): ``high_water_mark`` (newest order-field
value listed, where a new-only sweep starts, inclusive), and while a sweep is between
checkpoints its ``cursor``, the ``last_key`` it reached and its ``sweep`` kind; dlt commits them
with the rows. A failure or an interrupt ends the checkpoint with the pages already handled.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

from sources.core.columns import DELETED_AT, TIMESTAMP, TOMBSTONE
from sources.core.endpoint import DetailEndpoint
from sources.core.errors import ConnectorError, Interrupted, MalformedResponseError
from sources.core.fanout import FanOut

from .checkpoint_sweep import CheckpointSweep, OpenClient, ProgressReport
from .counters import RunCounters
from .known import Key, KnownVersions
from .loads import Batch, DestinationHooks, Hints
from .options import DetailOptions
from .paging import Page, PageStream, StartPosition

log = logging.getLogger("crm_leads.core")

# Reads the loaded rows of vanished ids (soft deletes re-merge them, stamped).
ReadLoaded = Callable[[list[str]], pa.Table]


@dataclass
class DetailLoad:
    """One checkpoint's rows: fetched records and deleted rows of the pages handled."""

    state: dict[str, Any]
    tables: list[pa.Table] = field(default_factory=list)
    pages: int = 0
    rows: int = 0


class DetailSweep(CheckpointSweep):
    """What one run keeps across its checkpoint loads: the client, the page stream, the
    detail fan-out and what the warehouse held when the run began (``known``; without it, as
    for a bare dlt source, every listed item is fetched and nothing is deleted)."""

    fetches_details = True

    def __init__(
        self,
        spec: DetailEndpoint,
        options: DetailOptions,
        open_client: OpenClient,
        *,
        known: KnownVersions | None = None,
        read_loaded: ReadLoaded | None = None,
        counters: RunCounters | None = None,
        stop: threading.Event | None = None,
        hooks: DestinationHooks | None = None,
        progress: ProgressReport | None = None,
        one_load: bool = False,
    ) -> None:
        super().__init__(open_client, counters, stop, hooks, progress, one_load)
        self.spec = spec
        self.options = options
        self._known = known
        self._read_loaded = read_loaded
        self._fanout = FanOut(options.concurrency, name="detail")
        self._stream: PageStream | None = None
        self._after: Key | None = None  # the last key handled: the next page's span starts there
        self._start_key: Key | None = None

    def _closables(self) -> tuple[Any, ...]:
        return self._stream, self._fanout

    def table_hints(self, table_format: str | None) -> tuple[Hints, Hints]:
        hints = (self.spec.hints(table_format), None)  # one table, merged
        return hints, hints

    def _open_load(self, state: dict[str, Any]) -> DetailLoad:
        return DetailLoad(state)

    def _pages(self, state: dict[str, Any]) -> Iterator[Page]:
        return self._open(state)

    def _take(self, load: DetailLoad, page: Page) -> int | None:
        try:
            tables = self._handle(page)
        except ConnectorError as exc:  # a detail failed: the pages before this one still load
            self.failure = exc
            return None
        load.tables.extend(table for table in tables if table.num_rows)
        load.pages += 1
        load.rows += sum(table.num_rows for table in tables)
        self._move_over(load.state, page)
        return len(page.items)

    def _last(self, load: DetailLoad) -> Iterator[Batch]:
        if load.tables:
            yield pa.concat_tables(load.tables, promote_options="none"), None, False

    def _open(self, state: dict[str, Any]) -> PageStream:
        if self._stream is not None:
            return self._stream
        spec, options = self.spec, self.options
        kind = "new_only" if options.new_only else "full"
        mark = state.get("high_water_mark") if options.new_only else None
        # A cursor is resumed only by the same kind of sweep: a new-only sweep's starts later.
        cursor = state.get("cursor") if state.get("sweep") == kind else None
        self._start_key = (spec.parse_time(mark), "") if mark else None
        last_key = state.get("last_key") if cursor else None
        self._after = (spec.parse_time(last_key[0]), last_key[1]) if last_key else self._start_key
        state["sweep"] = kind
        log.info(
            "sweep starts: %s",
            "cursor of an interrupted run"
            if cursor
            else f"{spec.keyset.since_param}={mark}"
            if mark
            else "the first lead",
        )
        start = StartPosition(cursor=cursor, updated_since=mark)
        self._stream = PageStream(
            spec.keyset,
            self.client(),
            options.params,
            start,
            prefetch=options.prefetch_pages,
            interrupt=self.stop,
        )
        return self._stream

    def _handle(self, page: Page) -> list[pa.Table]:
        """The page's rows to merge (fetched records, deleted rows)."""
        spec, known, id_field = self.spec, self._known, self.spec.keyset.id_field
        where = f"page {page.number}"
        keys = [self._key(item, where) for item in page.items]
        wanted = [
            item[id_field]
            for item in page.items
            if known is None or known.changed(item[id_field], self._version(item, where))
        ]
        if known is not None:
            gone = self._gone_in_span(known, page, keys)
            if self.options.filters:
                # A lead leaves a filtered listing when it changes (a stage it moved to) as well
                # as when it is deleted: its detail tells the two apart (200: a move, its row
                # updated; 404: a deletion).
                wanted += gone
                gone = []
        records = self._fanout.map(self._fetch, wanted)
        vanished = [item_id for item_id, record in zip(wanted, records, strict=True) if not record]
        if known is not None:
            vanished = [item_id for item_id in vanished if item_id in known]
            vanished += gone
        counters = self.counters
        counters.details += len(wanted)
        counters.vanished += len(vanished)
        found = [record for record in records if record is not None]
        tables = [spec.shape(found, where)] if found else []
        if vanished:
            tables.append(self._deleted_rows(vanished))
        return tables

    def _gone_in_span(self, known: KnownVersions, page: Page, keys: list[Key]) -> list[str]:
        """Loaded items in the span the page covers that it does not list; moves the span on."""
        last = page.next_cursor is None
        if not keys and not last:
            return []  # an empty page in the middle covers no span
        after = self._after
        if keys and after is not None and keys[0] <= after:
            # The API rejected the saved cursor and the stream began again (paging.py).
            after = self._start_key
        up_to = None if last else keys[-1]
        self._after = up_to
        return known.gone(after, up_to, (key[1] for key in keys))

    def _fetch(self, item_id: str) -> dict[str, Any] | None:
        if self.stop.is_set():  # the calls in flight finish; no new one starts
            raise Interrupted(f"interrupted before the detail of {item_id}")
        record = self.spec.fetch(self.client(), item_id, f"{self.spec.keyset.item_name} {item_id}")
        if record is not None and record.get(self.spec.keyset.id_field) != item_id:
            raise MalformedResponseError(
                f"{self.spec.keyset.item_name} {item_id}: the detail answer is for "
                f"{record.get(self.spec.keyset.id_field)!r}"
            )
        return record

    def _key(self, item: dict[str, Any], where: str) -> Key:
        field = self.spec.keyset.timestamp_field
        return (self._time(item, field, where), item[self.spec.keyset.id_field])

    def _version(self, item: dict[str, Any], where: str) -> datetime:
        return self._time(item, self.spec.version_field, where)

    def _time(self, item: dict[str, Any], field: str, where: str) -> datetime:
        try:
            return self.spec.parse_time(item[field]).astimezone(timezone.utc)
        except (KeyError, TypeError, ValueError):
            raise MalformedResponseError(
                f"{where}: {self.spec.keyset.item_name} {item.get('id')} has no valid "
                f"`{field}` (got {item.get(field)!r})"
            ) from None

    def _deleted_rows(self, ids: list[str]) -> pa.Table:
        """Soft: the loaded rows, `_deleted_at` stamped; hard: rows flagged for deletion."""
        schema: pa.Schema = self.spec.rows_schema
        if self.options.delete_mode == "soft" and self._read_loaded is not None:
            loaded = self._read_loaded(ids)
            stamp = pa.array([datetime.now(timezone.utc)] * loaded.num_rows, TIMESTAMP)
            return loaded.set_column(schema.get_field_index(DELETED_AT), DELETED_AT, stamp)
        columns = {name: pa.nulls(len(ids), schema.field(name).type) for name in schema.names}
        columns["id"] = pa.array(ids, pa.string())
        columns[TOMBSTONE] = pa.array([True] * len(ids), pa.bool_())
        return pa.Table.from_pydict(columns, schema=schema)

    def _move_over(self, state: dict[str, Any], page: Page) -> None:
        spec, counters = self.spec, self.counters
        counters.pages += 1
        counters.items += len(page.items)
        counters.done = page.next_cursor is None
        state["cursor"] = page.next_cursor
        after = self._after
        state["last_key"] = None if after is None else [spec.format_time(after[0]), after[1]]
        if counters.done:
            state["last_key"] = None
        field = spec.keyset.timestamp_field
        if page.items:
            newest = spec.format_time(max(spec.parse_time(item[field]) for item in page.items))
            mark = state.get("high_water_mark")
            if mark is None or spec.parse_time(newest) > spec.parse_time(mark):
                state["high_water_mark"] = newest
