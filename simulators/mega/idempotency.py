"""``Idempotency-Key`` on POST: a retried create is replayed, a reused key with another body is
a 409. Keys are scoped per customer and endpoint, like Stripe's."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from .errors import ApiError


@dataclass(frozen=True)
class _Stored:
    fingerprint: str
    status: int
    body: bytes


def _fingerprint(body: bytes) -> str:
    # Same JSON with other whitespace or key order is the same request.
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


class IdempotencyKeys:
    def __init__(self) -> None:
        self._stored: dict[tuple[str, str, str], _Stored] = {}
        # One lock for keyed creates: a concurrent retry must wait and replay, not double-create.
        self._lock = threading.Lock()

    def run(
        self,
        scope: tuple[str, str, str],
        body: bytes,
        execute: Callable[[], tuple[int, bytes]],
    ) -> tuple[int, bytes, bool]:
        """(status, body, replayed): the stored answer of ``scope`` (customer, endpoint, key)
        when the body is the same request, else ``execute()``'s, remembered."""
        fingerprint = _fingerprint(body)
        with self._lock:
            stored = self._stored.get(scope)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise ApiError(
                        409,
                        "Idempotency-Key was already used with a different request body.",
                        "invalid_request_error",
                    )
                return stored.status, stored.body, True
            # Like Stripe: only executed requests are remembered, not validation failures
            # (``execute`` raising ApiError stores nothing).
            status, out = execute()
            self._stored[scope] = _Stored(fingerprint, status, out)
        return status, out, False
