"""What the warehouse holds of a list that has no updated-since filter: each loaded item's
position in the list order and its version, so that a sweep can tell, page by page, which items
are new or changed (fetch them) and which vanished (delete them).

The list runs in (order field, id) order, and every page covers the keys after the previous
page's last one up to its own last one (the last page: everything after). A loaded item whose key
falls in a page's span but is not on the page has gone from the source. That needs nothing but
the page and its predecessor's last key, so it holds for a sweep resumed from a cursor too.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from datetime import datetime

import pyarrow as pa

# (order field, id): the list's sort key.
Key = tuple[datetime, str]


class KnownVersions:
    """Loaded items: key and version (e.g. `updated_at`), read once when the run starts."""

    def __init__(self, keys: list[Key], versions: dict[str, datetime | None]) -> None:
        self._keys = keys  # sorted
        self._versions = versions

    @classmethod
    def from_table(cls, table: pa.Table, order_field: str, version_field: str) -> KnownVersions:
        """From columns `id`, ``order_field``, ``version_field``, sorted by (order, id)."""
        ids = table["id"].to_pylist()
        order = table[order_field].to_pylist()
        versions = table[version_field].to_pylist()
        keys = [(at, item_id) for at, item_id in zip(order, ids, strict=True) if at is not None]
        return cls(keys, dict(zip(ids, versions, strict=True)))

    @classmethod
    def nothing(cls) -> KnownVersions:
        return cls([], {})

    def __len__(self) -> int:
        return len(self._versions)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._versions

    def changed(self, item_id: str, version: datetime) -> bool:
        """New to the warehouse, or loaded with another version."""
        return item_id not in self._versions or self._versions[item_id] != version

    def between(self, after: Key | None, up_to: Key | None) -> list[str]:
        """Ids of loaded items with ``after`` < key <= ``up_to`` (None: unbounded)."""
        start = 0 if after is None else bisect_right(self._keys, after)
        end = len(self._keys) if up_to is None else bisect_right(self._keys, up_to)
        return [item_id for _, item_id in self._keys[start:end]]

    def gone(self, after: Key | None, up_to: Key | None, listed: Iterable[str]) -> list[str]:
        """Loaded items in the span (after, up_to] that the page did not list."""
        seen = set(listed)
        return [item_id for item_id in self.between(after, up_to) if item_id not in seen]
