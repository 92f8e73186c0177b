"""The seam between a lead API and the sweep machinery: one list endpoint, described as data.

The machinery in ``sources/core/sweep`` (page streams, the prefetch thread and the fetch
process, parallel ranges, checkpoint batching, the resume cursor) reads only these specs; an
API package declares one per list endpoint with its shaping and table hints.

``Keyset`` is what paging needs. It crosses to the fetch process as plain data, its ``request``
by reference (module and qualified name), so it must be a module-level function or method of a
module that imports neither dlt nor pyarrow.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

import httpx

# (client, query params, context for errors) -> the answer, not yet decoded.
Request = Callable[[Any, Mapping[str, str], str], httpx.Response]
# (leads, where for errors, appended: new to the tables) -> (rows, child rows or None).
Shape = Callable[[list[dict[str, Any]], str, bool], tuple[Any, Any]]
# Child rows for an upsert-only table, given the stored child keys of their parents.
StoredKeys = Callable[[list[str]], Mapping[str, Iterable[str]]]
WithRemovedKeys = Callable[[Any, StoredKeys], Any]


@dataclass(frozen=True)
class Keyset:
    """How one list endpoint pages: keyset cursors over one timestamp, ascending."""

    request: Request
    items_key: str  # the page's list of items, e.g. "leads"
    params: Mapping[str, str] = field(default_factory=dict)  # fixed: sort order, page size
    page_limit: int = 100
    cursor_field: str = "next_cursor"  # in the answer; null: no more pages
    cursor_param: str = "cursor"  # in the request
    total_field: str = "total"  # items matching the filters, ignoring the cursor
    id_field: str = "id"
    item_name: str = "item"  # in error messages: "lead #3 is not an object"
    timestamp_field: str = "updated_at"  # the sort key
    # Other timestamps the connector relies on (the version, the creation time): checked with
    # the page, like the sort key, when not null.
    time_fields: tuple[str, ...] = ()
    since_param: str = "updated_since"  # inclusive lower bound on the sort key
    limit_param: str = "limit"
    # None: the API cannot sort descending (no append probe, no parallel ranges).
    sort_dir_param: str | None = "sort_dir"
    descending: str = "desc"

    def wire(self) -> dict[str, Any]:
        """Plain data for the fetch process (see ``from_wire``)."""
        fields = asdict(replace(self, request=_no_request))
        fields["request"] = f"{self.request.__module__}:{self.request.__qualname__}"
        fields["params"] = dict(self.params)
        return fields

    @classmethod
    def from_wire(cls, fields: Mapping[str, Any]) -> Keyset:
        module, _, qualname = str(fields["request"]).partition(":")
        target: Any = importlib.import_module(module)
        for name in qualname.split("."):
            target = getattr(target, name)
        return cls(**{**fields, "request": target})


def holds_any_item(keyset: Keyset, client: Any) -> bool:
    """One request for one item with none of the filters: does the API hold anything? (Told
    apart from a filter that matches nothing.)"""
    context = "checking that the API holds any item"
    params = {**keyset.params, keyset.limit_param: "1"}
    page = client.decode_object(keyset.request(client, params, context), context)
    return bool(page.get(keyset.items_key))


def _no_request(client: Any, params: Mapping[str, str], context: str) -> httpx.Response:
    raise NotImplementedError  # a placeholder while ``wire`` copies the plain fields


@dataclass(frozen=True)
class EndpointSpec:
    """One list endpoint loaded as a dlt resource: paging, timestamps, shaping, table hints."""

    name: str  # the dlt resource whose state holds the streams
    keyset: Keyset
    parse_time: Callable[[str], datetime]
    format_time: Callable[[datetime], str]  # the API's own rendering: state compares alike
    shape: Shape
    empty_rows: Callable[[], Any]  # the rows table with no rows (an item of child rows only)
    # Lakehouse tables (upsert by key): tombstones for the child keys a parent no longer has.
    with_removed_keys: WithRemovedKeys
    # table format or None -> ((rows, child rows) merge hints, (rows, child rows) append hints)
    hints: Callable[[str | None], tuple[tuple[Any, Any], tuple[Any, Any]]]

    def api_time(self, value: str) -> str:
        return self.format_time(self.parse_time(value))


# (client, item id, context for errors) -> the full record, or None when it is gone (404).
FetchDetail = Callable[[Any, str, str], "dict[str, Any] | None"]


@dataclass(frozen=True)
class DetailEndpoint:
    """A list endpoint with no updated-since filter, in (``keyset.timestamp_field``, id) order,
    whose full records come from a detail request: each run lists everything (or what was
    created since the mark), compares versions with the warehouse and fetches only new or
    changed items (``sweep/detail_sweep.py``)."""

    name: str  # the dlt resource whose state holds the streams
    keyset: Keyset  # the list's paging; ``since_param`` bounds the order field from below
    version_field: str  # e.g. "updated_at": another value means the record changed
    fetch: FetchDetail
    parse_time: Callable[[str], datetime]
    format_time: Callable[[datetime], str]
    shape: Callable[[list[dict[str, Any]], str], Any]  # records -> the rows table
    rows_schema: Any  # that table's arrow schema (deleted rows are read back in it)
    hints: Callable[[str | None], Any]  # table format or None -> the rows table's hints
