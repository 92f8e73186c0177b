"""The incremental state of one filter set, kept in the `leads` resource state.

``streams[<key>] = {"filters", "high_water_mark", "cursor", "mark_versions"[, "ranges"]}``:
- ``high_water_mark``: the newest `updated_at` loaded (API format). The next sweep starts at
  ``updated_since = high_water_mark - lookback``, inclusive, so ties at the mark are re-read.
- ``mark_versions``: id → content hash of the leads loaded at exactly that instant. Like dlt's
  own incremental, a re-read of one of those versions is recognised and not loaded again; a
  lead edited again within the same millisecond has another hash and is loaded.
- ``cursor``: set only while a sweep is between checkpoints, so a rerun continues it exactly.
- ``ranges``: a parallel backfill in progress (see ``ranges.py``).
dlt commits resource state in the same load package as the data, so it never runs ahead of it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from .config import SourceConfig
from .paging import StartPosition
from .shaping import format_timestamp, parse_timestamp

# Past this many leads tied at one instant they are not kept; ties are then merged again.
MAX_MARK_VERSIONS = 10_000


def stream_state_for(resource_state: dict[str, Any], config: SourceConfig) -> dict[str, Any]:
    streams = resource_state.setdefault("streams", {})
    entry = streams.setdefault(config.filters.stream_key, {})
    entry.setdefault("filters", config.filters.describe())
    entry.setdefault("high_water_mark", None)
    entry.setdefault("cursor", None)
    entry.setdefault("mark_versions", {})
    return entry


def start_position(stream_state: dict[str, Any], config: SourceConfig) -> StartPosition:
    mark = stream_state.get("high_water_mark")
    if mark is None:
        return StartPosition(cursor=None, updated_since=config.filters.initial_updated_since)
    if config.lookback:
        # Every run re-reads the lookback window, an interrupted sweep too: the saved cursor
        # would skip it, so it is not used (the mark is where that sweep had got to).
        since = format_timestamp(parse_timestamp(mark) - config.lookback)
        return StartPosition(cursor=None, updated_since=since)
    return StartPosition(cursor=stream_state.get("cursor"), updated_since=mark)


def api_timestamp(value: str) -> str:
    return format_timestamp(parse_timestamp(value))


def version_hash(lead: dict[str, Any]) -> str:
    canonical = orjson.dumps(lead, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(canonical, digest_size=8).hexdigest()


def already_loaded(lead: dict[str, Any], at_mark: dict[str, str], mark: str | None) -> bool:
    loaded = at_mark.get(lead["id"])
    return (
        loaded is not None
        and api_timestamp(lead["updated_at"]) == mark
        and version_hash(lead) == loaded
    )


def advance_mark(stream_state: dict[str, Any], leads: list[dict[str, Any]]) -> None:
    """Move the mark to the newest lead of ``leads`` (never back, as lookback re-reads do)."""
    if not leads:
        return
    newest_raw = max(lead["updated_at"] for lead in leads)
    newest = api_timestamp(newest_raw)
    mark = stream_state["high_water_mark"]
    if mark is not None and newest < mark:
        return
    at_newest = {x["id"]: version_hash(x) for x in leads if x["updated_at"] == newest_raw}
    if newest == mark:
        at_newest = {**stream_state["mark_versions"], **at_newest}
    stream_state["high_water_mark"] = newest
    stream_state["mark_versions"] = at_newest if len(at_newest) <= MAX_MARK_VERSIONS else {}


def newest_of(mark: str | None, leads: list[dict[str, Any]]) -> str | None:
    if not leads:
        return mark
    newest = api_timestamp(max(lead["updated_at"] for lead in leads))
    return newest if mark is None or newest > mark else mark
