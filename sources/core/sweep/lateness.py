"""Lookback's measure: how late the source commits changes behind the high-water mark."""

from __future__ import annotations

from typing import Any

from sources.core.endpoint import EndpointSpec

from .counters import RunCounters


class LatenessMeter:
    """``known_versions``: the versions loaded inside the re-read window (id -> timestamp), read
    by the runner from the tables; a re-read item whose version is not among them was committed
    late at the source."""

    def __init__(
        self,
        spec: EndpointSpec,
        known_versions: dict[str, str],
        previous_mark: str | None,
        counters: RunCounters,
    ) -> None:
        self._spec = spec
        self._known = known_versions
        self._mark = spec.parse_time(previous_mark) if previous_mark is not None else None
        self._counters = counters

    def measure(self, items: list[dict[str, Any]]) -> None:
        mark = self._mark
        if mark is None:
            return
        spec, counters = self._spec, self._counters
        id_field, time_field = spec.keyset.id_field, spec.keyset.timestamp_field
        for item in items:
            updated = spec.parse_time(item[time_field])
            if updated >= mark:
                continue
            counters.rereads += 1
            if self._known.get(item[id_field]) != spec.format_time(updated):
                counters.late_changes += 1
                lateness = (mark - updated).total_seconds()
                counters.max_lateness_s = max(counters.max_lateness_s, lateness)
