"""Fixed-window rate limiting with ``RateLimit-*`` headers, and the 429 it answers."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

UNLIMITED = 1_000_000
Headers = list[tuple[str, str]]


class RateLimiter:
    """Fixed window of ``limit`` requests per ``window_s`` seconds, starting at the first hit.

    Real (monotonic) time on purpose: Retry-After is a promise in wall seconds to the client,
    whatever the simulated lead clock says.
    """

    def __init__(
        self,
        limit: int | None,
        window_s: float = 60,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._now = now
        self._lock = threading.Lock()
        self._start: float | None = None
        self._count = 0

    def hit(self) -> tuple[bool, Headers, int]:
        """Count one request: (allowed, RateLimit-* headers, seconds until reset)."""
        with self._lock:
            now = self._now()
            if self._start is None or now >= self._start + self.window_s:
                self._start, self._count = now, 0
            self._count += 1
            quota = self.limit if self.limit is not None else UNLIMITED
            allowed = self.limit is None or self._count <= self.limit
            reset = max(1, math.ceil(self._start + self.window_s - now))
            remaining = max(0, quota - self._count)
        headers = [
            ("RateLimit-Limit", str(quota)),
            ("RateLimit-Remaining", str(remaining)),
            ("RateLimit-Reset", str(reset)),
        ]
        return allowed, headers, reset

    def reset(self) -> None:
        with self._lock:
            self._start, self._count = None, 0


def exhausted(headers: Headers) -> Headers:
    """The same ``RateLimit-*`` headers with nothing remaining (an injected 429 says so too)."""
    return [(k, "0" if k == "RateLimit-Remaining" else v) for k, v in headers]
