"""What every kind of sweep keeps for one run: the client (opened on first use), the run's
counters, the Ctrl-C flag, the destination's hooks, and the failure that stopped it early."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from sources.core.errors import ConnectorError, Interrupted
from sources.core.pacing import ClientStats

from .counters import RunCounters
from .loads import DestinationHooks

# (stats, sleep) -> the API client; ``sleep`` is the run's interruptible wait.
OpenClient = Callable[[ClientStats, Callable[[float], None]], Any]


class ProgressReport(Protocol):
    """Told of every page received and of the items due, once the API says."""

    def set_total(self, total: int | None) -> None: ...

    def advance(self, pages: int, leads: int) -> None: ...

    def close(self) -> None: ...


class RunSession:
    """``one_load``: no runner spreads the sweep over loads, so one load reads it all and
    closes the session at its end."""

    def __init__(
        self,
        open_client: OpenClient,
        counters: RunCounters | None,
        stop: threading.Event | None,
        hooks: DestinationHooks | None,
        progress: ProgressReport | None,
        one_load: bool,
    ) -> None:
        self.counters = counters if counters is not None else RunCounters()
        # Set by the runner's Ctrl-C / SIGTERM handler: the sweep stops between pages, and every
        # wait (rate-limit pause, retry backoff, a page not yet fetched) ends at once.
        self.stop = stop if stop is not None else threading.Event()
        self.hooks = hooks if hooks is not None else DestinationHooks()
        self.one_load = one_load
        # What stopped the sweep early; the runner raises it once the pages before it are
        # committed.
        self.failure: ConnectorError | None = None
        self._open_client = open_client
        self._progress = progress
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            self._client = self._open_client(self.counters.stats, self._wait)
        return self._client

    def _wait(self, seconds: float) -> None:
        """The client's sleep (rate-limit pauses, retry backoff): Ctrl-C ends it at once."""
        if self.stop.wait(seconds):
            raise Interrupted("interrupted during a wait")
