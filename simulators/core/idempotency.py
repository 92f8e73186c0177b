"""``Idempotency-Key`` on writes: a retried request is replayed, a reused key with another body
is a 409. Keys are scoped (tenant, endpoint, key), like Stripe's.

Generic over the API: the 409's error type (code) is the API's own.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from .errors import ApiError
from .messages import Request, Response

Scope = tuple[str, str, str]
REPLAYED_HEADER = ("Idempotent-Replayed", "true")


@dataclass(frozen=True)
class _Stored:
    fingerprint: str
    status: int
    body: bytes


def fingerprint(body: bytes) -> str:
    """Same JSON with other whitespace or key order is the same request."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


class IdempotencyKeys:
    def __init__(self, conflict_error_type: str | None = None) -> None:
        self.conflict_error_type = conflict_error_type
        self._stored: dict[Scope, _Stored] = {}
        # One lock for keyed writes: a concurrent retry must wait and replay, not write twice.
        self._lock = threading.Lock()

    def run(
        self, scope: Scope, body: bytes, execute: Callable[[], tuple[int, bytes]]
    ) -> tuple[int, bytes, bool]:
        """(status, body, replayed): the stored answer of ``scope`` when ``body`` is the same
        request, else ``execute()``'s, remembered. Raises a 409 ``ApiError`` on a mismatch."""
        key = fingerprint(body)
        with self._lock:
            stored = self._stored.get(scope)
            if stored is not None:
                if stored.fingerprint != key:
                    raise ApiError(
                        409,
                        "Idempotency-Key was already used with a different request body.",
                        self.conflict_error_type,
                    )
                return stored.status, stored.body, True
            # Only executed requests are remembered, not validation failures (``execute``
            # raising ApiError stores nothing), so a corrected retry may reuse the key.
            status, out = execute()
            self._stored[scope] = _Stored(key, status, out)
        return status, out, False

    def write(
        self,
        request: Request,
        tenant: str,
        headers: list[tuple[str, str]],
        execute: Callable[[], tuple[int, bytes]],
    ) -> Response:
        """``execute()``'s answer to a write, or the replay of it for a repeated
        ``Idempotency-Key`` of ``tenant`` on the same method and path (marked
        ``Idempotent-Replayed: true``); without a key the write just runs."""
        headers = list(headers)
        key = request.headers.get("idempotency-key")
        if not key:
            status, body = execute()
        else:
            scope = (tenant, f"{request.method} {request.path.rstrip('/')}", key)
            status, body, replayed = self.run(scope, request.body, execute)
            if replayed:
                headers.append(REPLAYED_HEADER)
        return Response(status, body, headers)
