"""One checkpoint's pages of a keyset sweep on their way to dlt: shaped to arrow about every
thousand items and joined into items of ~25k, so memory stays bounded by a few tens of
megabytes, not by the checkpoint. Received pages wait in ``pending`` until they are shaped;
only then does the state move over them (``record``), so dlt commits rows and state together.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from sources.core.endpoint import EndpointSpec, StoredKeys
from sources.core.errors import ConnectorError, MalformedResponseError

from .counters import RunCounters
from .loads import Batch
from .paging import Page


@dataclass(frozen=True)
class SweepItem:
    range_index: int | None  # None: the sequential sweep
    page: Page
    last: bool  # the last page of its sweep or range


class Rewindable:
    """An iterator that can take back the one item a checkpoint decided not to load."""

    def __init__(self, items: Iterator[SweepItem], ready: Callable[[], bool] | None = None) -> None:
        self._items = items
        self._back: SweepItem | None = None
        self._ready = ready

    def ready(self) -> bool:
        """The next item is at hand (unknown counts as at hand)."""
        return self._back is not None or self._ready is None or self._ready()

    def push_back(self, item: SweepItem) -> None:
        self._back = item

    def __iter__(self) -> Iterator[SweepItem]:
        return self

    def __next__(self) -> SweepItem:
        if self._back is not None:
            item, self._back = self._back, None
            return item
        return next(self._items)


def _rows_or_none(table: pa.Table | None) -> pa.Table | None:
    return table if table is not None and len(table) else None


Pending = list[tuple[SweepItem, list[dict[str, Any]]]]


class KeysetLoad:
    def __init__(
        self,
        spec: EndpointSpec,
        counters: RunCounters,
        stream_state: dict[str, Any],
        record: Callable[[SweepItem], None],
        stored_keys: StoredKeys | None,
        row_group: int | None = None,
    ) -> None:
        self._spec = spec
        self._row_group = row_group
        self._counters = counters
        self._stream_state = stream_state
        self._record = record
        self._stored_keys = stored_keys
        self.append: bool | None = None  # decided by the load's first page
        self.in_load: set[str] = set()
        self._pending: Pending = []
        self.pending_rows = 0
        self._shaped: list[Batch] = []
        self.shaped_pages = 0
        self.rows = 0  # items shaped
        self._carried: pa.Table | None = None  # child rows short of a whole row group

    def add(self, item: SweepItem, items: list[dict[str, Any]]) -> None:
        id_field = self._spec.keyset.id_field
        self.in_load |= {x[id_field] for x in items}
        self._pending.append((item, items))
        self.pending_rows += len(items)

    @property
    def pages(self) -> int:
        return self.shaped_pages

    @property
    def shaped_rows(self) -> int:
        return sum(len(batch[0]) for batch in self._shaped)

    @property
    def has_rows(self) -> bool:
        return bool(self._shaped) or self._carried is not None

    def shape_pending(self) -> ConnectorError | None:
        """Shape the received pages and move the state over them. A page that cannot be shaped
        (a wrong-typed field) stops the sweep there: the pages before it are still loaded, and
        its error is returned."""
        pages, rows = self._pending, self.pending_rows
        self._pending, self.pending_rows = [], 0
        failure = None
        # No rows: nothing new on them (versions loaded at the mark); only the state moves.
        if rows:
            pages, failure = self._shape_all(pages)
        for item, _ in pages:
            self._record(item)
        self.shaped_pages += len(pages)
        return failure

    def _shape_all(self, pages: Pending) -> tuple[Pending, ConnectorError | None]:
        try:
            done = self._counters.pages
            where = f"pages {done + 1}-{done + len(pages)}"
            self._shaped.append(self._shape([x for _, items in pages for x in items], where))
            return pages, None
        except MalformedResponseError:
            return self._shape_each(pages)

    def _shape_each(self, pages: Pending) -> tuple[Pending, ConnectorError | None]:
        """The pages up to the first that fails to shape, each shaped alone; that one's error
        (naming its page) becomes the sweep's failure."""
        for position, (_, items) in enumerate(pages):
            try:
                where = f"page {self._counters.pages + position + 1}"
                self._shaped.append(self._shape(items, where))
            except MalformedResponseError as exc:
                return pages[:position], exc
        return pages, None

    def _shape(self, items: list[dict[str, Any]], where: str) -> Batch:
        # Appended items are new to the tables: no old child rows to delete.
        append = bool(self.append)
        rows, child_rows = self._spec.shape(items, where, append)
        self._counters.items += len(items)
        self.rows += len(items)
        return rows, child_rows, append

    def joined(self, final: bool = False) -> Batch:
        """One item for dlt out of the load's shaped ones; child rows short of a whole row
        group are carried to the load's next item. dlt writes each item's table as parquet
        row groups; whole row groups of the destination's (``row_group``, DuckDB's) load
        without a merge of partial ones. The load's
        last item (``final``) takes every row left."""
        self._counters.state_after = copy.deepcopy(self._stream_state)
        shaped, self._shaped = self._shaped, []
        children = [batch[1] for batch in shaped if batch[1] is not None]
        if children and self._stored_keys is not None and not self.append:
            # One read of the stored child keys per item, not per shaped chunk: on a lakehouse
            # it scans the child table. Each upsert key stands alone, so items may split parents.
            children = [self._spec.with_removed_keys(pa.concat_tables(children), self._stored_keys)]
        if self._carried is not None:
            children.insert(0, self._carried)
        joined = pa.concat_tables(children) if children else None
        self._carried = None
        if joined is not None and not final and self._row_group:
            whole = len(joined) - len(joined) % self._row_group
            joined, self._carried = joined.slice(0, whole), _rows_or_none(joined.slice(whole))
        # No shaped rows when only carried ones are left (the previous item ended the pages).
        rows = pa.concat_tables([b[0] for b in shaped]) if shaped else self._spec.empty_rows()
        return rows, _rows_or_none(joined), bool(self.append)
