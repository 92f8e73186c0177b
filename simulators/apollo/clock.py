"""Apollo timestamps, and the shared clocks (``simulators.core.clock``) re-exported.

The doc types ``created_at`` / ``updated_at`` as ``format: date-time`` without an example;
ASSUMPTION: UTC with milliseconds and ``Z`` (``2026-04-27T13:22:05.114Z``), as the other
simulated lead APIs render them.
"""

from __future__ import annotations

from datetime import datetime

from simulators.core.clock import UTC, Clock, ManualClock, SystemClock, truncate_ms

__all__ = ["UTC", "Clock", "ManualClock", "SystemClock", "format_ts"]


def format_ts(dt: datetime) -> str:
    """Render like the API. ``isoformat`` pads the year to four digits (``strftime`` does not)."""
    return truncate_ms(dt).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
