"""Leads v1 routes on the core pipeline (``simulators.core.api``): list, get, create and
patch under /api/v1/leads, scoped to the token's organization, with ``Idempotency-Key`` on
the writes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import unquote

import orjson

from simulators.core.api import ApiCore
from simulators.core.messages import Request, Response
from simulators.core.ratelimit import Headers

from . import faults as fl
from .auth import authenticate
from .errors import ApiError, error_body
from .query import parse_list_params
from .schema import LEADS_PATH, LIST_FIELDS, PATCH_RESPONSE_FIELDS, project
from .store import LeadsV1Store
from .validation import parse_body, validate_create, validate_patch

_LIST_METHODS = ("GET", "POST")
_LEAD_METHODS = ("GET", "PATCH")


def lead_id_of(path: str) -> str | None:
    """``""`` for the collection, the id for ``/api/v1/leads/{id}``, None for anything else
    (the doc's roadmap endpoints /score and /push-to-crm are not served: 404)."""
    path = path.rstrip("/")
    if path == LEADS_PATH:
        return ""
    head, _, tail = path.rpartition("/")
    return unquote(tail) if head == LEADS_PATH and tail else None


class Api(ApiCore):
    store: LeadsV1Store
    tokens: Mapping[str, str]  # token -> organization id
    error_shape = staticmethod(error_body)
    forwarded_headers = ("authorization", "content-type", "idempotency-key")
    body_fault_kinds = fl.BODY_KINDS
    conflict_error_type = "idempotency_conflict"
    broken_json = b'{"data": [{"id": "9f1c8a32", "organization_id": <<upstream timeout>>'

    def rewrite_body(self, fault: fl.Fault, body: bytes, request: Request) -> bytes:
        return fl.apply_body_fault(fault, body)

    def route(self, request: Request, rl_headers: Headers) -> Response:
        lead_id = lead_id_of(request.path)
        if lead_id is None:
            raise ApiError(404, "Not found.", "not_found")
        allowed = _LEAD_METHODS if lead_id else _LIST_METHODS
        if request.method not in allowed:
            response = self.error(405, f"Method {request.method} not allowed.", rl_headers)
            response.headers.append(("Allow", ", ".join(allowed)))
            return response
        org = authenticate(request.headers.get("authorization"), self.tokens)
        if request.method == "GET":
            if lead_id:
                body = orjson.dumps(self.store.get_for(org, lead_id))
            else:
                rows, cursor = self.store.page(org, parse_list_params(request.query))
                body = orjson.dumps({"data": rows, "next_cursor": cursor})
            return Response(200, body, list(rl_headers))
        if request.method == "POST":
            return self._write(request, org, rl_headers, lambda: self._create(org, request.body))
        return self._write(
            request, org, rl_headers, lambda: self._patch(org, lead_id, request.body)
        )

    def _write(
        self,
        request: Request,
        org: str,
        rl_headers: Headers,
        execute: Callable[[], tuple[int, bytes]],
    ) -> Response:
        """Run a write, or replay it for a repeated ``Idempotency-Key`` (scoped per
        organization and endpoint; the same key with another body is a 409)."""
        response = self.idempotency.write(request, org, rl_headers, execute)
        if response.status == 201:
            lead_id = orjson.loads(response.body)["id"]
            response.headers.append(("Location", f"{LEADS_PATH}/{lead_id}"))
        return response

    def _create(self, org: str, body: bytes) -> tuple[int, bytes]:
        lead = self.store.create_for(org, validate_create(parse_body(body)))
        return 201, orjson.dumps(project(lead, LIST_FIELDS))

    def _patch(self, org: str, lead_id: str, body: bytes) -> tuple[int, bytes]:
        self.store.get_for(org, lead_id)  # 404 before judging the body, as GET would
        lead = self.store.patch_for(org, lead_id, validate_patch(parse_body(body)))
        return 200, orjson.dumps(project(lead, PATCH_RESPONSE_FIELDS))
