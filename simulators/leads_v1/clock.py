"""Leads v1 timestamps: parsing what clients send, bounds, versions that move forward; and the
shared clocks (``simulators.core.clock``) re-exported.

The doc renders every instant as ``2026-04-27T13:22:05.114Z`` (the core's ``format_ts``): UTC,
three fraction digits, ``Z``. Fixed-width strings of that form sort chronologically, so the
store compares and bisects them as strings.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from simulators.core.clock import MS, UTC, Clock, ManualClock, SystemClock, format_ts

__all__ = [
    "MS",
    "UTC",
    "Clock",
    "ManualClock",
    "SystemClock",
    "is_api_ts",
    "later_than",
    "parse_instant",
    "ts_bound",
]

_MAX = "9999-12-31T23:59:59.999Z"


def parse_instant(value: str) -> datetime:
    """An ISO 8601 instant as a client sends it (``Z`` or an offset; naive means UTC), in UTC.

    Raises ValueError for anything else, including instants out of datetime's range in UTC.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"  # Python 3.10's fromisoformat has no ``Z``
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is out of range") from None


def ts_bound(value: str) -> str:
    """The smallest rendered timestamp at or after ``value``: stored instants have millisecond
    precision, so ``>= b`` and ``< b`` over them equal ``>= ceil_ms(b)`` and ``< ceil_ms(b)``."""
    dt = parse_instant(value)
    micro = dt.microsecond % 1000
    if micro:
        try:
            dt = dt + timedelta(microseconds=1000 - micro)
        except OverflowError:
            return _MAX
    return format_ts(dt)


def is_api_ts(value: object) -> bool:
    """True for a string in exactly the rendered format (what cursors must carry)."""
    if not isinstance(value, str) or len(value) != 24 or not value.endswith("Z"):
        return False
    try:
        return format_ts(parse_instant(value)) == value
    except ValueError:
        return False


def later_than(previous: str, now: datetime) -> str:
    """``now`` rendered, or one millisecond after ``previous`` if the clock has not passed it:
    a write must move ``updated_at`` forward for incremental readers to see it."""
    rendered = format_ts(now)
    if rendered > previous:
        return rendered
    return format_ts(parse_instant(previous) + MS)
