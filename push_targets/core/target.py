"""What each push target's object shares (``push.Target``): its settings and their mapping of
rows to fields, whose ledger rows it writes, and one client whose pacer keeps the requests in
flight in reserve. A target adds its client, its payload and its send."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from sources.core.pacing import ClientStats
from sources.core.retry import RetryPolicy

from .settings import PushSettings


class ApiTarget:
    name: str  # the ledger's target
    upsert: bool = False  # changed rows are updated (else create-only)
    retry: ClassVar[RetryPolicy]  # the API's retry rules

    def __init__(
        self,
        config: PushSettings,
        in_flight: int = 1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``in_flight``: requests sent at once; the pacer keeps that many in reserve. ``sleep``:
        the client's waits (a push's ends at Ctrl-C)."""
        self.config = config
        self.mapping: Mapping[str, str] = config.mapping
        self.required: dict[str, str] = {}  # fields every row needs (a target's own)
        self.account = config.ledger_account
        self.stats = ClientStats()
        self._client = self.open_client(
            **config.client_options(self.retry, self.stats, sleep, in_flight)
        )

    def open_client(self, **http_options: Any) -> Any:
        """The API's client, with the run's HTTP options (timeouts, retry, pacer …)."""
        raise NotImplementedError

    def close(self) -> None:
        self._client.close()
