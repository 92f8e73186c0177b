"""The log of served API requests that tests inspect, and the count ``/_sim/stats`` reports."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """One served API request, as tests inspect it. Never holds the token."""

    method: str
    path: str
    query: dict[str, str]
    status: int | None  # None: the connection was dropped without a response
    customer_id: str | None
    idempotency_key: str | None
    at: float
    account: str | None = None  # the name of the account whose token was sent, if any

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self.served = 0

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            self.served += 1

    @property
    def records(self) -> list[RequestRecord]:
        """Oldest first; a copy."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self.served = 0
