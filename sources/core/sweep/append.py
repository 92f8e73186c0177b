"""The append-or-merge policy: when a load's pages may be appended instead of merged.

When the tables hold no rows (the runner asks them), a backfill's items updated before the
sweep began (below the newest timestamp seen then) each appear once in it, so their loads can
be appended instead of merged. So can every item of the run's first load (it holds each item
once, and nothing was loaded before it); newer items of later loads may repeat an appended one,
so they are merged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sources.core.endpoint import EndpointSpec

from .paging import check_page_items

NEWEST = "probing the newest lead"  # the context of that request's errors


class AppendPolicy:
    def __init__(self, spec: EndpointSpec, empty_table: bool) -> None:
        self._spec = spec
        self._empty_table = empty_table
        self._before: str | None = None  # items older than this may be appended
        self.decided = False

    def decide_for_sweep(self, client: Any, params: Mapping[str, str], since: str | None) -> None:
        """The newest timestamp as the sweep begins: one ``limit=1`` request, descending."""
        self.decided = True
        keyset = self._spec.keyset
        if not self._empty_table or keyset.sort_dir_param is None:
            return  # without a descending sort the newest is unknown: every load merges
        probe = {**params, keyset.sort_dir_param: keyset.descending, keyset.limit_param: "1"}
        if since:
            probe[keyset.since_param] = since
        body = client.decode_object(keyset.request(client, probe, NEWEST), NEWEST)
        items = body.get(keyset.items_key)
        newest = check_page_items(keyset, items, NEWEST) if items is not None else []
        field = keyset.timestamp_field
        self._before = self._spec.api_time(newest[0][field]) if newest else None

    def decide_for_ranges(self, ranges: list[dict[str, Any]]) -> None:
        """Parallel ranges end at the newest timestamp seen when they were planned."""
        self.decided = True
        self._before = ranges[-1]["end"] if self._empty_table else None

    def fits(self, items: list[dict[str, Any]], first_load: bool) -> bool:
        if self._before is None:
            return False
        if not items or first_load:
            return True
        newest = max(item[self._spec.keyset.timestamp_field] for item in items)
        return self._spec.api_time(newest) < self._before
