"""MEGA's routes on the core pipeline (``simulators.core.api``): GET and POST
/api/agents/crm/leads, per-customer lead stores, create with ``Idempotency-Key`` and merge."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

import orjson

from simulators.core.accounts import Account, Accounts
from simulators.core.api import ApiCore
from simulators.core.bodies import json_object
from simulators.core.messages import Request, Response
from simulators.core.ratelimit import Headers, RateLimiter

from . import faults as fl
from .auth import READ_SCOPE, WRITE_SCOPE, TokenInfo, authenticate
from .errors import ApiError, bad_request, error_body
from .store import LeadStore

LEADS_PATH = fl.LEADS_PATH


class Api(ApiCore):
    store: LeadStore
    tokens: Mapping[str, TokenInfo]
    error_shape = staticmethod(error_body)
    forwarded_headers = ("authorization", "x-customer-id", "idempotency-key", "content-type")
    customer_header = "x-customer-id"
    body_fault_kinds = fl.BODY_KINDS
    conflict_error_type = "invalid_request_error"
    html_page = (
        b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
        b"<body><h1>Checking your browser before accessing app.gomega.ai</h1></body></html>"
    )
    broken_json = b'{"leads": [{"id": "3f8c", "customer_id": <<upstream timeout>>'

    def __init__(
        self,
        store: LeadStore,
        tokens: Mapping[str, TokenInfo],
        limiter: RateLimiter,
        fault_plan: fl.FaultPlan,
        latency_s: float = 0.0,
        accounts: Accounts | None = None,
        stores: Iterable[LeadStore] = (),
    ) -> None:
        """``stores``: other customers' stores besides ``store`` (several accounts)."""
        super().__init__(store, tokens, limiter, fault_plan, latency_s, accounts)
        self._stores = {s.customer_id.lower(): s for s in (store, *stores)}
        self._stores_lock = threading.Lock()

    def store_for(self, customer_id: str) -> LeadStore:
        """The lead store of a customer; other customers' keys see an empty account."""
        with self._stores_lock:
            key = customer_id.lower()
            store = self._stores.get(key)
            if store is None:
                store = self._stores[key] = LeadStore(self.store.clock, customer_id)
            return store

    def store_of(self, account: Account | None) -> LeadStore:
        return self.store if account is None else self.store_for(account.tenant_id)

    def rewrite_body(self, fault: fl.Fault, body: bytes, request: Request) -> bytes:
        return fl.apply_body_fault(fault, body, request.query.get("cursor"))

    def route(self, request: Request, rl_headers: Headers) -> Response:
        method, headers, body = request.method, request.headers, request.body
        if request.path.rstrip("/") != LEADS_PATH:
            raise ApiError(404, "Not found.")
        if method not in ("GET", "POST"):
            response = self.error(405, f"Method {method} not allowed.", rl_headers)
            response.headers.append(("Allow", "GET, POST"))
            return response
        scope = READ_SCOPE if method == "GET" else WRITE_SCOPE
        info = authenticate(
            headers.get("authorization"), headers.get("x-customer-id"), self.tokens, scope
        )
        store = self.store_for(info.customer_id)
        if method == "GET":
            return Response(200, store.query_bytes(request.query), rl_headers)
        # Keys are scoped per customer and endpoint (POST /api/agents/crm/leads).
        return self.idempotency.write(
            request, info.customer_id.lower(), rl_headers, lambda: self._create(store, body)
        )

    @staticmethod
    def _create(store: LeadStore, body: bytes) -> tuple[int, bytes]:
        lead, _created = store.create_or_merge(json_object(body, bad_request))
        return 201, orjson.dumps({"lead": lead})
