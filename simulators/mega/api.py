"""Request handling independent of the socket: faults, rate limit, auth, routing, idempotency.

``Api.handle`` maps (method, path, query, headers, body) to a :class:`Response`; the HTTP layer
in ``server.py`` only parses and writes bytes.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import faults as fl
from .auth import READ_SCOPE, WRITE_SCOPE, RateLimiter, TokenInfo, authenticate
from .errors import ApiError, bad_request, error_body
from .store import LeadStore

LEADS_PATH = fl.LEADS_PATH
_HTML = (
    b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
    b"<body><h1>Checking your browser before accessing app.gomega.ai</h1></body></html>"
)
_NOT_JSON = b'{"leads": [{"id": "3f8c", "customer_id": <<upstream timeout>>'


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"
    action: str = "send"  # send | drop | truncate | hang
    hang_s: float = 0.0


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

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


@dataclass(frozen=True)
class _Stored:
    fingerprint: str
    status: int
    body: bytes


def _error(status: int, message: str, headers: list[tuple[str, str]]) -> Response:
    return Response(status, error_body(status, message), list(headers))


def _fingerprint(body: bytes) -> str:
    # Same JSON with other whitespace or key order is the same request.
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


class Api:
    def __init__(
        self,
        store: LeadStore,
        tokens: Mapping[str, TokenInfo],
        limiter: RateLimiter,
        fault_plan: fl.FaultPlan,
        latency_s: float = 0.0,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.limiter = limiter
        self.faults = fault_plan
        self.latency_s = latency_s
        self._stores: dict[str, LeadStore] = {store.customer_id.lower(): store}
        self._stores_lock = threading.Lock()
        self._idempotency: dict[tuple[str, str, str], _Stored] = {}
        self._idempotency_lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._records_lock = threading.Lock()
        self.served = 0

    # ----- bookkeeping -------------------------------------------------------------------

    def store_for(self, customer_id: str) -> LeadStore:
        """The lead store of a customer; other customers' keys see an empty account."""
        with self._stores_lock:
            key = customer_id.lower()
            store = self._stores.get(key)
            if store is None:
                store = self._stores[key] = LeadStore(self.store.clock, customer_id)
            return store

    @property
    def requests(self) -> list[RequestRecord]:
        with self._records_lock:
            return list(self._records)

    def clear_requests(self) -> None:
        with self._records_lock:
            self._records.clear()
            self.served = 0

    def _record(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        status: int | None,
    ) -> None:
        record = RequestRecord(
            method,
            path,
            query,
            status,
            headers.get("x-customer-id"),
            headers.get("idempotency-key"),
            time.time(),
        )
        with self._records_lock:
            self._records.append(record)
            self.served += 1

    # ----- handling ----------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Response:
        """``headers`` has lower-case names."""
        try:
            response = self._handle(method, path, query, headers, body)
        except Exception:  # a simulator bug must still answer in the error model
            traceback.print_exc(file=sys.stderr)
            response = _error(500, "Internal server error.", [])
        self._record(
            method, path, query, headers, None if response.action == "drop" else response.status
        )
        return response

    def _handle(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Response:
        if self.latency_s:
            time.sleep(self.latency_s)
        fault = self.faults.take(method, path)
        if fault is not None and fault.kind == "callback" and fault.fn is not None:
            fault.fn(self.store)
        elif fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
        allowed, rl_headers, reset = self.limiter.hit()
        if fault is not None and fault.kind in fl.PRE_KINDS:
            return self._pre_fault(fault, rl_headers)
        if not allowed:
            response = _error(
                429, "Rate limit exceeded; retry after the window resets.", rl_headers
            )
            response.headers.append(("Retry-After", str(reset)))
            return response
        try:
            response = self._route(method, path, query, headers, body, rl_headers)
        except ApiError as exc:
            response = Response(exc.status, exc.body(), rl_headers)
        if fault is None:
            return response
        if fault.kind in fl.BODY_KINDS and response.status in (200, 201):
            response.body = fl.apply_body_fault(fault, response.body, query.get("cursor"))
        elif fault.kind == "truncate":
            response.action = "truncate"
        elif fault.kind == "hang":
            response.action, response.hang_s = "hang", fault.seconds
        return response

    def _pre_fault(self, fault: fl.Fault, rl_headers: list[tuple[str, str]]) -> Response:
        if fault.kind == "drop":
            return Response(0, action="drop")
        if fault.kind == "html_200":
            return Response(200, _HTML, list(rl_headers), "text/html; charset=utf-8")
        if fault.kind == "non_json_200":
            return Response(200, _NOT_JSON, list(rl_headers))
        code = fault.status
        if fault.kind == "rate_limited":
            message = fault.message or "Rate limit exceeded; retry after the window resets."
            rl_headers = [(k, "0" if k == "RateLimit-Remaining" else v) for k, v in rl_headers]
        else:
            message = fault.message or f"Injected failure ({code})."
        response = _error(code, message, rl_headers)
        if fault.retry_after is not None:
            response.headers.append(("Retry-After", str(fault.retry_after)))
        return response

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        body: bytes,
        rl_headers: list[tuple[str, str]],
    ) -> Response:
        if path.rstrip("/") != LEADS_PATH:
            raise ApiError(404, "Not found.")
        if method not in ("GET", "POST"):
            response = _error(405, f"Method {method} not allowed.", rl_headers)
            response.headers.append(("Allow", "GET, POST"))
            return response
        scope = READ_SCOPE if method == "GET" else WRITE_SCOPE
        info = authenticate(
            headers.get("authorization"), headers.get("x-customer-id"), self.tokens, scope
        )
        store = self.store_for(info.customer_id)
        if method == "GET":
            return Response(200, store.query_bytes(query), rl_headers)
        key = headers.get("idempotency-key")
        if not key:
            status, out = self._create(store, body)
            return Response(status, out, rl_headers)
        scope_key = (info.customer_id.lower(), f"POST {LEADS_PATH}", key)
        fingerprint = _fingerprint(body)
        # One lock for keyed creates: a concurrent retry must wait and replay, not double-create.
        with self._idempotency_lock:
            stored = self._idempotency.get(scope_key)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise ApiError(
                        409,
                        "Idempotency-Key was already used with a different request body.",
                        "invalid_request_error",
                    )
                headers_out = [*rl_headers, ("Idempotent-Replayed", "true")]
                return Response(stored.status, stored.body, headers_out)
            status, out = self._create(store, body)
            # Like Stripe: only executed requests are remembered, not validation failures.
            self._idempotency[scope_key] = _Stored(fingerprint, status, out)
        return Response(status, out, rl_headers)

    @staticmethod
    def _create(store: LeadStore, body: bytes) -> tuple[int, bytes]:
        try:
            payload = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            raise bad_request("Request body must be valid JSON.") from None
        if not isinstance(payload, dict):
            raise bad_request("Request body must be a JSON object.")
        lead, _created = store.create_or_merge(payload)
        return 201, orjson.dumps({"lead": lead})
