"""How many requests a simulator serves at once: a callback fault that holds each request a
moment and records the most in flight."""

from __future__ import annotations

import threading
import time
from typing import Any


class InFlight:
    def __init__(self, hold_s: float = 0.02) -> None:
        self.most = 0
        self._now = 0
        self._hold_s = hold_s
        self._lock = threading.Lock()

    def __call__(self, store: Any) -> None:
        with self._lock:
            self._now += 1
            self.most = max(self.most, self._now)
        time.sleep(self._hold_s)
        with self._lock:
            self._now -= 1
