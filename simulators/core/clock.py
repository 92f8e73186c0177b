"""Clocks for simulated data: the wall clock, and a deterministic one tests drive.

Both run at millisecond precision, the precision lead APIs render; every simulated API renders
instants alike (``format_ts``), its parsing rules are its own (e.g. ``simulators.mega.clock``).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol

UTC = timezone.utc
MS = timedelta(milliseconds=1)


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time: timezone-aware UTC, millisecond precision."""
        ...


def truncate_ms(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    return dt.replace(microsecond=dt.microsecond - dt.microsecond % 1000)


def format_ts(dt: datetime) -> str:
    """``2026-04-27T13:22:05.114Z``: UTC, three fraction digits, ``Z``, as the lead APIs render
    instants (seeds 001, 004; Apollo's doc gives none). ``isoformat`` pads the year to four
    digits (``strftime`` does not), so the strings are fixed-width and sort chronologically."""
    return truncate_ms(dt).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


class SystemClock:
    """Wall clock truncated to milliseconds that never goes backwards (NTP steps included)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = datetime(1970, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        current = truncate_ms(datetime.now(UTC))
        with self._lock:
            if current < self._last:
                current = self._last
            self._last = current
            return current


class ManualClock:
    """Deterministic clock: each ``now()`` returns the current value, then advances by ``step``.

    ``step=timedelta(0)`` freezes time, which is how tests manufacture ``updated_at`` ties.
    """

    def __init__(self, start: datetime, step: timedelta = MS) -> None:
        self._lock = threading.Lock()
        self._current = truncate_ms(start)
        self.step = step

    def now(self) -> datetime:
        with self._lock:
            value = self._current
            self._current = truncate_ms(self._current + self.step)
            return value

    def peek(self) -> datetime:
        with self._lock:
            return self._current

    def set(self, dt: datetime) -> None:
        with self._lock:
            self._current = truncate_ms(dt)

    def advance(self, td: timedelta) -> None:
        with self._lock:
            self._current = truncate_ms(self._current + td)
