"""MEGA's timestamps: parsing what clients send, bounds, a fast rendering for generated data; and
the shared clocks (``simulators.core.clock``) re-exported.

The API renders every timestamp as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (the core's ``format_ts``).
Strings in this fixed-width format sort chronologically, which is what lets the store keep its
keyset indexes as sorted lists of ``(timestamp_string, id)`` and page with ``bisect``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from simulators.core.clock import MS, UTC, Clock, ManualClock, SystemClock, format_ts, truncate_ms

__all__ = [
    "UTC",
    "Clock",
    "ManualClock",
    "SystemClock",
    "format_epoch_ms",
    "is_api_ts",
    "parse_iso",
    "since_bound",
    "to_epoch_ms",
    "truncate_ms",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_day_cache: dict[int, str] = {}
_hms: list[str] = []
_millis = [f".{m:03d}Z" for m in range(1000)]


def format_epoch_ms(ms: int) -> str:
    """Fast path of :func:`format_ts` for integer epoch milliseconds (the generator makes
    millions of these, so it concatenates cached day / second-of-day / millisecond parts)."""
    if not _hms:
        _hms.extend(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400))
    day, rem = divmod(ms, 86_400_000)
    date = _day_cache.get(day)
    if date is None:
        date = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
        _day_cache[day] = date
    sec, milli = divmod(rem, 1000)
    return date + _hms[sec] + _millis[milli]


def to_epoch_ms(dt: datetime) -> int:
    dt = truncate_ms(dt)
    return (dt - _EPOCH) // MS


def parse_iso(value: str) -> datetime:
    """Parse an ISO-8601 timestamp as a client may send it; naive means UTC.

    Raises ValueError on anything ``datetime.fromisoformat`` rejects (3.11 accepts ``Z``).
    """
    text = value.strip()
    if not text:
        raise ValueError("empty timestamp")
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def since_bound(value: str) -> str:
    """Turn a ``*_since`` parameter into the smallest stored timestamp string it admits.

    Stored values have millisecond precision, so a sub-millisecond bound is rounded *up*:
    ``>= 00.0005`` must exclude ``00.000`` and include ``00.001``.
    """
    dt = parse_iso(value)
    micro = dt.microsecond % 1000
    if micro:
        dt = dt + timedelta(microseconds=1000 - micro)
    return format_ts(dt)


def is_api_ts(value: object) -> bool:
    """True for a string in the exact rendered format (what cursors must carry)."""
    if not isinstance(value, str) or len(value) != 24 or value[-1] != "Z":
        return False
    try:
        return format_ts(parse_iso(value)) == value
    except ValueError:
        return False
