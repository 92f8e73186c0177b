"""Rate-limit pacing and request counters, shared by every worker of a run.

``RateLimit-Remaining`` / ``RateLimit-Reset`` let a long backfill pause before the quota is
gone instead of running into 429s; one pacer per run makes its workers respect one budget.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .errors import Interrupted

log = logging.getLogger("crm_leads.core")

# Pause when RateLimit-Remaining drops to this many requests.
DEFAULT_RESERVE = 1
DEFAULT_MAX_WAIT_S = 120.0


@dataclass
class ClientStats:
    """Counters a run reports; shared by every thread of one run."""

    requests: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "rate_limit_waits": self.rate_limit_waits,
                "rate_limit_wait_s": round(self.rate_limit_wait_s, 3),
            }


class RateLimitPacer:
    """Waits before a request when the last answer said the quota is (nearly) spent.

    One pacer is shared by every worker of a run, so they respect one budget together.
    """

    def __init__(
        self,
        reserve: int = DEFAULT_RESERVE,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        stats: ClientStats | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.reserve = reserve
        self.max_wait_s = max_wait_s
        self.stats = stats or ClientStats()
        self._sleep = sleep
        self._resume_at = 0.0
        self._lock = threading.Lock()

    @classmethod
    def for_run(
        cls, reserve: int, max_wait_s: float, stats: ClientStats, sleep: Callable[[float], None]
    ) -> RateLimitPacer:
        """A run's pacer: its counters, and waits that Ctrl-C ends (``sleep``)."""
        return cls(reserve=reserve, max_wait_s=max_wait_s, stats=stats, sleep=sleep)

    def wait(self) -> None:
        with self._lock:
            delay = self._resume_at - time.monotonic()
        if delay > 0:
            log.info("rate limit nearly spent: pausing %.1f s before the next request", delay)
            self.stats.add(rate_limit_waits=1, rate_limit_wait_s=delay)
            self._sleep(delay)

    def observe(self, headers: Mapping[str, str]) -> None:
        remaining = _int_header(headers, "RateLimit-Remaining")
        reset = _int_header(headers, "RateLimit-Reset")
        if remaining is None or reset is None or remaining > self.reserve:
            return
        with self._lock:
            self._resume_at = max(
                self._resume_at, time.monotonic() + min(float(reset), self.max_wait_s)
            )

    def hold_until(self, delay_s: float) -> None:
        with self._lock:
            self._resume_at = max(self._resume_at, time.monotonic() + delay_s)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    try:
        return int(float(raw)) if raw is not None else None
    except ValueError:
        return None


def stoppable_sleep(stop: threading.Event) -> Callable[[float], None]:
    """A client's sleep (rate-limit pauses, retry backoff) that a stop (Ctrl-C, SIGTERM) ends at
    once: the wait raises ``Interrupted`` instead of ending in one more request."""

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise Interrupted("interrupted during a wait")

    return sleep
