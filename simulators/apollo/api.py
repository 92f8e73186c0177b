"""Apollo routes on the core pipeline (``simulators.core.api``): POST /v1/leads, the doc's
``createLead``, for the token's active organization, with ``Idempotency-Key``; every answer
carries ``X-Request-Id`` (an error's equals the ``request_id`` in its body)."""

from __future__ import annotations

from collections.abc import Callable, Container

import orjson

from simulators.core.accounts import Accounts
from simulators.core.api import ApiCore
from simulators.core.clock import Clock
from simulators.core.messages import Request, Response
from simulators.core.ratelimit import Headers, RateLimiter

from . import faults as fl
from .auth import ORGANIZATION_HEADER, active_organization, authenticate
from .errors import ApiError, error_body, stamp_request_id
from .schema import LEADS_PATH
from .store import ApolloStore
from .validation import parse_body, validate_create

_METHODS = ("POST",)


class Api(ApiCore):
    store: ApolloStore
    error_shape = staticmethod(error_body)
    forwarded_headers = ("authorization", "content-type", "idempotency-key", ORGANIZATION_HEADER)
    customer_header = ORGANIZATION_HEADER
    body_fault_kinds = fl.BODY_KINDS
    conflict_error_type = "idempotency_conflict"
    broken_json = b'{"id": "3f8c2a10-9b7d-4e51-a6c4-0d2e8f1b7a93", "contact_name": <<upstream'

    def __init__(
        self,
        store: ApolloStore,
        accepted: Container[str] | None,
        limiter: RateLimiter,
        fault_plan: fl.FaultPlan,
        latency_s: float = 0.0,
        accounts: Accounts | None = None,
    ) -> None:
        # The core's token table maps opaque tokens to grants; a JWT carries its own grants,
        # so only the optional allow-list is kept (None: any token the simulator signed; the
        # accounts: their live tokens).
        super().__init__(store, {}, limiter, fault_plan, latency_s, accounts)
        self.accepted = accepted

    @property
    def clock(self) -> Clock:
        # The store's clock: a ManualClock moved past a token's exp expires it.
        return self.store.clock

    def handle(self, request: Request) -> Response:
        return stamp_request_id(super().handle(request))

    def error(self, status: int, message: str, headers: Headers | None = None) -> Response:
        # Also the HTTP layer's and the admin endpoints' errors: they get the header too.
        return stamp_request_id(super().error(status, message, headers))

    def rewrite_body(self, fault: fl.Fault, body: bytes, request: Request) -> bytes:
        return fl.apply_body_fault(fault, body)

    def route(self, request: Request, rl_headers: Headers) -> Response:
        if request.path.rstrip("/") != LEADS_PATH:
            raise ApiError(404, "Not found.", "not_found")
        if request.method not in _METHODS:
            response = self.error(405, f"Method {request.method} not allowed.", rl_headers)
            response.headers.append(("Allow", ", ".join(_METHODS)))
            return response
        headers = request.headers
        claims = authenticate(headers.get("authorization"), self.accepted, self.clock.now())
        org = active_organization(headers.get(ORGANIZATION_HEADER), claims)
        return self._write(request, org, rl_headers, lambda: self._create(org, request.body))

    def _write(
        self,
        request: Request,
        org: str,
        rl_headers: Headers,
        execute: Callable[[], tuple[int, bytes]],
    ) -> Response:
        """Run a create, or replay it for a repeated ``Idempotency-Key`` (the doc: "UUID único
        pra evitar duplicação em retry"; scoped per organization and endpoint, the same key
        with another body is a 409 ``idempotency_conflict``)."""
        response = self.idempotency.write(request, org, rl_headers, execute)
        if response.status == 201:
            lead_id = orjson.loads(response.body)["id"]
            response.headers.append(("Location", f"{LEADS_PATH}/{lead_id}"))
        return response

    def _create(self, org: str, body: bytes) -> tuple[int, bytes]:
        lead = self.store.create_for(org, validate_create(parse_body(body)))
        return 201, orjson.dumps(lead)
