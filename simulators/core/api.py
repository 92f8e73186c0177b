"""The request pipeline every simulated API shares, independent of the socket.

``ApiCore.handle`` maps a :class:`Request` to a :class:`Response`: added
latency, armed faults, the rate limit, then the API's own ``route``; API errors are rendered in
the API's error shape and every request is logged. An API subclasses it with its routes, its
error shape (and the body faults it knows); it serves one store to its tokens' holders. With
accounts (``accounts.py``) a request carrying an account's token meets that account's own
faults and rate-limit budget and is logged under its name. The HTTP layer in ``http.py``
only parses and writes bytes.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any, ClassVar

from . import faults as fl
from .accounts import Account, Accounts
from .errors import ApiError, ErrorShape, api_error_response, error_response
from .idempotency import IdempotencyKeys
from .messages import Request, Response
from .ratelimit import Headers, RateLimiter, exhausted
from .request_log import RequestLog, RequestRecord

_HTML = (
    b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
    b"<body><h1>Checking your browser before accessing the API</h1></body></html>"
)
_NOT_JSON = b'{"data": [{"id": "3f8c", <<upstream timeout>>'
# Faults that act on how a computed response is delivered.
_DELIVERY_KINDS = frozenset({"truncate", "hang"})


class ApiCore:
    """Shared handling; subclasses set ``error_shape``, implement :meth:`route` and may
    override the hooks."""

    # The API's error body, as ``staticmethod(error_body)`` (a class attribute: not bound).
    error_shape: ClassVar[ErrorShape]

    # Request headers (lower-case) the HTTP layer hands to ``handle``.
    forwarded_headers: tuple[str, ...] = ("authorization", "content-type", "idempotency-key")
    # The header naming the tenant, logged with each request (None: the API has none).
    customer_header: str | None = None
    # Fault kinds the API rewrites a 200/201 body for, in :meth:`rewrite_body`.
    body_fault_kinds: frozenset[str] = frozenset()
    # What an ``html_200`` / ``non_json_200`` fault serves.
    html_page: bytes = _HTML
    broken_json: bytes = _NOT_JSON
    rate_limit_message = "Rate limit exceeded; retry after the window resets."
    # The error type of the 409 for an ``Idempotency-Key`` reused with another body.
    conflict_error_type: str | None = None

    def __init__(
        self,
        store: Any,
        tokens: Mapping[str, Any],
        limiter: RateLimiter,
        fault_plan: fl.FaultPlan,
        latency_s: float = 0.0,
        accounts: Accounts | None = None,
    ) -> None:
        # The API's own lead store and token -> grant map; subclasses narrow their types.
        self.store = store
        self.tokens = tokens
        # Requests of no account (all of them without ``accounts``) share these two.
        self.limiter = limiter
        self.faults = fault_plan
        self.accounts = accounts
        self.latency_s = latency_s
        self.log = RequestLog()
        self._answers_held_until = 0.0  # time.monotonic(); see hold_answers
        # Writes go through ``self.idempotency.write`` (replay, 409 on a reused key).
        self.idempotency = IdempotencyKeys(self.conflict_error_type)

    # ----- what a subclass provides --------------------------------------------------------

    def route(self, request: Request, rl_headers: Headers) -> Response:
        """The API's answer to an allowed request; may raise :class:`ApiError`."""
        raise NotImplementedError

    def rewrite_body(self, fault: fl.Fault, body: bytes, request: Request) -> bytes:
        """Apply one of ``body_fault_kinds`` to a successful response body."""
        return body

    def store_of(self, account: Account | None) -> Any:
        """The store a ``callback`` fault edits for a request of ``account`` (None: of no
        account); an API keeping a store per tenant gives that tenant's."""
        return self.store

    # ----- bookkeeping -------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        return self.log.records

    @property
    def served(self) -> int:
        return self.log.served

    def clear_requests(self) -> None:
        self.log.clear()

    def hold_answers(self, seconds: float) -> None:
        """Hold every answer not yet sent, this one's too, for ``seconds``: a signal sent to the
        client then surely reaches it before any of its requests in flight ends."""
        self._answers_held_until = time.monotonic() + seconds

    def error(self, status: int, message: str, headers: Headers | None = None) -> Response:
        """A response in the API's error shape."""
        return error_response(self.error_shape, status, message, headers or [])

    # ----- handling ----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        account = self.accounts.of_request(request) if self.accounts is not None else None
        try:
            response = self._handle(request, account)
        except Exception:  # a simulator bug must still answer in the error model
            traceback.print_exc(file=sys.stderr)
            response = self.error(500, "Internal server error.")
        held = self._answers_held_until - time.monotonic()
        if held > 0:
            time.sleep(held)
        status = None if response.action == "drop" else response.status
        self._record(request, status, account)
        return response

    def _record(self, request: Request, status: int | None, account: Account | None) -> None:
        headers = request.headers
        customer = headers.get(self.customer_header) if self.customer_header else None
        key = headers.get("idempotency-key")
        self.log.add(
            RequestRecord(
                request.method,
                request.path,
                request.query,
                status,
                customer,
                key,
                time.time(),
                account.name if account is not None else None,
            )
        )

    def _budget(self, account: Account | None) -> tuple[fl.FaultPlan | None, RateLimiter]:
        """The account's own fault plan and rate-limit budget (no plan and the shared budget
        for a request of no account)."""
        if account is None or self.accounts is None:
            return None, self.limiter
        return self.accounts.faults(account.name), self.accounts.limiter(account.name)

    def _handle(self, request: Request, account: Account | None) -> Response:
        if self.latency_s:
            time.sleep(self.latency_s)
        own_faults, limiter = self._budget(account)
        fault = own_faults.take(request.method, request.path) if own_faults is not None else None
        if fault is None:
            fault = self.faults.take(request.method, request.path)
        if fault is not None and fault.kind == "callback" and fault.fn is not None:
            fault.fn(self.store_of(account))
        elif fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
        allowed, rl_headers, reset = limiter.hit()
        if fault is not None and fault.kind in fl.PRE_KINDS:
            return self._pre_fault(fault, rl_headers)
        if not allowed:
            response = self.error(429, self.rate_limit_message, rl_headers)
            response.headers.append(("Retry-After", str(reset)))
            return response
        try:
            response = self.route(request, rl_headers)
        except ApiError as exc:
            response = api_error_response(self.error_shape, exc, rl_headers)
        if fault is None:
            return response
        if fault.kind in self.body_fault_kinds and response.status in (200, 201):
            response.body = self.rewrite_body(fault, response.body, request)
        elif fault.kind in _DELIVERY_KINDS:
            response.action, response.hang_s = fault.kind, fault.seconds
        elif fault.kind == "commit_then_drop":
            response.action = "drop"  # route() has run: its side effects stay
        return response

    def _pre_fault(self, fault: fl.Fault, rl_headers: Headers) -> Response:
        if fault.kind == "drop":
            return Response(0, action="drop")
        if fault.kind == "html_200":
            return Response(200, self.html_page, list(rl_headers), "text/html; charset=utf-8")
        if fault.kind == "non_json_200":
            return Response(200, self.broken_json, list(rl_headers))
        code = fault.status
        if fault.kind == "rate_limited":
            message = fault.message or self.rate_limit_message
            rl_headers = exhausted(rl_headers)
        else:
            message = fault.message or f"Injected failure ({code})."
        response = self.error(code, message, rl_headers)
        if fault.retry_after is not None:
            response.headers.append(("Retry-After", str(fault.retry_after)))
        return response
