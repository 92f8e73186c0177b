"""Columns and timestamps every lead table shares, whatever its API.

Both APIs render instants as ISO 8601 in UTC with milliseconds and a `Z` (seeds 001, 004);
state and request parameters use that rendering so that they compare alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")
# Set on a lead that vanished at the source (soft delete); NULL while it is live.
DELETED_AT = "_deleted_at"
# dlt's hard-delete column: a row flagged with it deletes its key and is not inserted.
TOMBSTONE = "_tombstone"


def format_timestamp(value: datetime) -> str:
    utc = value.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class ChildTable:
    """Rows nested under a lead (MEGA's custom fields): ``parent_key`` holds the lead's `id`,
    ``key`` tells one lead's rows apart."""

    name: str
    parent_key: str
    key: str


@dataclass(frozen=True)
class LeadTables:
    """The tables a source loads, as its hints name them: one row per lead (keyed by `id`,
    soft-deleted by `DELETED_AT`), and its child table if it has one."""

    leads: str
    child: ChildTable | None = None
