"""Bearer-token + ``x-customer-id`` authentication and the fixed-window rate limiter."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .data import DEFAULT_CUSTOMER_ID
from .errors import ApiError

READ_SCOPE = "public_api:leads:read"
WRITE_SCOPE = "public_api:leads:write"
WEBHOOKS_SCOPE = "public_api:webhooks:manage"
DEFAULT_SCOPES = (READ_SCOPE, WRITE_SCOPE)
# A fixed, documented test token in the API's shape (``mega_`` + 64 hex); not a secret.
DEFAULT_TOKEN = "mega_" + hashlib.sha256(b"mega-simulator default token v1").hexdigest()
UNLIMITED = 1_000_000


@dataclass(frozen=True)
class TokenInfo:
    customer_id: str
    scopes: frozenset[str]


def normalize_tokens(tokens: Mapping[str, Any] | None) -> dict[str, TokenInfo]:
    """``{token: {"customer_id": ..., "scopes": [...]}}``; scopes default to read + write."""
    if tokens is None:
        return {DEFAULT_TOKEN: TokenInfo(DEFAULT_CUSTOMER_ID, frozenset(DEFAULT_SCOPES))}
    out: dict[str, TokenInfo] = {}
    for token, spec in tokens.items():
        if isinstance(spec, TokenInfo):
            out[token] = spec
        else:
            scopes = spec.get("scopes", DEFAULT_SCOPES)
            out[token] = TokenInfo(str(spec["customer_id"]), frozenset(scopes))
    return out


def authenticate(
    authorization: str | None,
    customer_header: str | None,
    tokens: Mapping[str, TokenInfo],
    required_scope: str,
) -> TokenInfo:
    """Return the key's identity or raise 401/403. Messages never echo what was sent."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Missing or malformed Authorization header; expected 'Bearer <token>'.")
    info = tokens.get(token.strip())
    if info is None:
        raise ApiError(401, "Invalid API key.")
    if not customer_header or not customer_header.strip():
        raise ApiError(401, "Missing x-customer-id header.")
    if customer_header.strip().lower() != info.customer_id.lower():
        raise ApiError(403, "This API key is not authorized for the requested customer.")
    if required_scope not in info.scopes:
        raise ApiError(403, f"This API key lacks the required scope {required_scope}.")
    return info


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

    def hit(self) -> tuple[bool, list[tuple[str, str]], int]:
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
