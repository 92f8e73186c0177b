"""The incremental state of one filter set, kept in the endpoint resource's state.

``streams[<key>] = {"filters", "high_water_mark", "cursor", "mark_versions"[, "ranges"]}``:
- ``high_water_mark``: the newest timestamp loaded (API format). The next sweep starts at
  ``since = high_water_mark - lookback``, inclusive, so ties at the mark are re-read.
- ``mark_versions``: id → content hash of the items loaded at exactly that instant. Like dlt's
  own incremental, a re-read of one of those versions is recognised and not loaded again; an
  item edited again within the same millisecond has another hash and is loaded.
- ``cursor``: set only while a sweep is between checkpoints, so a rerun continues it exactly.
- ``ranges``: a parallel backfill in progress (see ``ranges.py``).
dlt commits resource state in the same load package as the data, so it never runs ahead of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import orjson

from sources.core.endpoint import EndpointSpec

from .paging import Page, StartPosition

# Past this many items tied at one instant they are not kept; ties are then merged again.
MAX_MARK_VERSIONS = 10_000


def stream_state_for(
    resource_state: dict[str, Any], stream_key: str, filters: Mapping[str, str]
) -> dict[str, Any]:
    streams = resource_state.setdefault("streams", {})
    entry = streams.setdefault(stream_key, {})
    entry.setdefault("filters", dict(filters))
    entry.setdefault("high_water_mark", None)
    entry.setdefault("cursor", None)
    entry.setdefault("mark_versions", {})
    return entry


def start_position(
    spec: EndpointSpec, stream_state: dict[str, Any], initial_since: str | None, lookback: timedelta
) -> StartPosition:
    mark = stream_state.get("high_water_mark")
    if mark is None:
        return StartPosition(cursor=None, updated_since=initial_since)
    if lookback:
        # Every run re-reads the lookback window, an interrupted sweep too: the saved cursor
        # would skip it, so it is not used (the mark is where that sweep had got to).
        since = spec.format_time(spec.parse_time(mark) - lookback)
        return StartPosition(cursor=None, updated_since=since)
    return StartPosition(
        cursor=stream_state.get("cursor"),
        updated_since=mark,
        since_with_cursor=True,
        loaded_at_since=len(stream_state.get("mark_versions") or {}),
    )


def version_hash(item: dict[str, Any]) -> str:
    canonical = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(canonical, digest_size=8).hexdigest()


def already_loaded(
    spec: EndpointSpec, item: dict[str, Any], at_mark: dict[str, str], mark: str | None
) -> bool:
    loaded = at_mark.get(item[spec.keyset.id_field])
    return (
        loaded is not None
        and spec.api_time(item[spec.keyset.timestamp_field]) == mark
        and version_hash(item) == loaded
    )


def advance_mark(
    spec: EndpointSpec, stream_state: dict[str, Any], items: list[dict[str, Any]]
) -> None:
    """Move the mark to the newest item of ``items`` (never back, as lookback re-reads do)."""
    if not items:
        return
    id_field, time_field = spec.keyset.id_field, spec.keyset.timestamp_field
    newest_raw = max(item[time_field] for item in items)
    newest = spec.api_time(newest_raw)
    mark = stream_state["high_water_mark"]
    if mark is not None and newest < mark:
        return
    at_newest = {x[id_field]: version_hash(x) for x in items if x[time_field] == newest_raw}
    if newest == mark:
        at_newest = {**stream_state["mark_versions"], **at_newest}
    stream_state["high_water_mark"] = newest
    stream_state["mark_versions"] = at_newest if len(at_newest) <= MAX_MARK_VERSIONS else {}


def newest_of(spec: EndpointSpec, mark: str | None, items: list[dict[str, Any]]) -> str | None:
    if not items:
        return mark
    time_field = spec.keyset.timestamp_field
    newest = spec.api_time(max(item[time_field] for item in items))
    return newest if mark is None or newest > mark else mark


def move_over_page(
    spec: EndpointSpec,
    stream_state: dict[str, Any],
    range_index: int | None,
    page: Page,
    last: bool,
) -> bool:
    """The state moved over a page whose rows are on their way to dlt: the resume cursor and
    the mark, or its range's. True when that page finished the last parallel range."""
    if range_index is None:
        stream_state["cursor"] = page.next_cursor
        advance_mark(spec, stream_state, page.items)
        return False
    ranges: list[dict[str, Any]] = stream_state["ranges"]
    entry = ranges[range_index]
    entry["cursor"] = None if last else page.next_cursor
    entry["done"] = last
    entry["mark"] = newest_of(spec, entry.get("mark"), page.items)
    if not all(r["done"] for r in ranges):
        return False
    # Everything older than the plan's newest instant is loaded; the ordinary sweep from that
    # instant (inclusive) loads whatever changed meanwhile.
    stream_state["high_water_mark"] = ranges[-1]["end"]
    stream_state["mark_versions"] = {}
    del stream_state["ranges"]
    return True
