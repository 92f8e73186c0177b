"""A named retry policy: which failures are retried, how long to wait, and when to give up.

An API package or a caller overrides the default with ``dataclasses.replace(DEFAULT_RETRY, …)``
or its own instance; the HTTP client (``http.py``) only asks the policy.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

# 429 (too many requests) and every 5xx: the server may answer differently a moment later.
RETRY_STATUSES = frozenset((429, *range(500, 600)))


@dataclass(frozen=True)
class RetryPolicy:
    name: str = "default"
    # Statuses that are retried; every other status >= 400 fails at once as a typed ApiError.
    retry_statuses: frozenset[int] = field(default=RETRY_STATUSES)
    # Connect/read/write errors, timeouts and dropped connections (once the server has answered).
    retry_transport: bool = True
    max_retries: int = 8
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    # A server's Retry-After is obeyed up to this long.
    retry_after_max_s: float = 120.0
    # The total time one request may spend retrying.
    max_retry_time_s: float = 600.0

    def backoff(self, attempt: int) -> float:
        """Capped exponential backoff with jitter, so workers that failed together spread out."""
        capped = min(self.backoff_max_s, self.backoff_base_s * (2**attempt))
        return capped * (0.5 + random.random() / 2)

    def retry_after_seconds(self, value: str | None) -> float | None:
        """``Retry-After`` as seconds, capped: an integer, or an HTTP date (RFC 9110 §10.2.3)."""
        if not value:
            return None
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            seconds = when.timestamp() - time.time()
        return min(max(seconds, 0.0), self.retry_after_max_s)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (a fetch process gets its parent's policy this way)."""
        return asdict(self) | {"retry_statuses": sorted(self.retry_statuses)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetryPolicy:
        return cls(**data | {"retry_statuses": frozenset(data["retry_statuses"])})


DEFAULT_RETRY = RetryPolicy()
