"""Local simulator of the "Leads v1 API" (vendor document: seed 004), built on the shared
server core (``simulators.core``)::

    with LeadsV1Server(n_leads=500, clock=ManualClock(start)) as sim:
        httpx.get(sim.url + "/api/v1/leads", headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"})

Endpoints (the doc's "Live" ones; its "Roadmap" /score and /push-to-crm answer 404):

- ``GET /api/v1/leads``: ``limit`` (default 50, 1–200), ``cursor``, ``pipeline_stage``,
  ``source``, ``start_at`` (inclusive) / ``end_at`` (exclusive) on created_at. Rows (exactly
  ``LIST_FIELDS``) in (created_at, id) order; ``{"data": [...], "next_cursor": ...}``. The
  cursor is base64url JSON without padding, ``{"created_at": ..., "id": ...}`` of the last
  row, as the doc's example decodes; the next page starts strictly after that pair.
  ``next_cursor`` is null whenever no further matching row exists, including after a page
  that is exactly full (no empty last page).
- ``GET /api/v1/leads/{id}``: the full record (``DETAIL_FIELDS``); 404 for unknown, deleted
  or another organization's leads.
- ``POST /api/v1/leads``: 201 with the record in list shape (and ``Location``).
- ``PATCH /api/v1/leads/{id}``: whitelisted fields; answers the doc's PATCH subset;
  ``updated_at`` always moves strictly forward.

Several organizations on one server (``accounts=[account("acme", 500, 1), ...]``), each with
its own token, leads, rate-limit budget and faults: ``sim.account_settings("acme")`` (base_url,
api_token), ``sim.revoke("acme")`` (its token answers 401), ``sim.requests_of("acme")``.

Writes honour ``Idempotency-Key`` (per organization and endpoint): the same body replays the
first answer (``Idempotent-Replayed: true``), another body is a 409.

ASSUMPTIONS where the doc is silent: the error body is
``{"error": {"code": "<snake_case>", "message": "<text>"}}`` with codes 400
``invalid_request`` (bad query/JSON), 401 ``unauthorized``, 404 ``not_found``, 405
``method_not_allowed``, 409 ``idempotency_conflict``, 422 ``validation_error`` (a write body
the rules reject, naming the field), 429 ``rate_limited`` (with ``Retry-After``), 5xx
``internal_error``/``bad_gateway``/``service_unavailable``/``gateway_timeout``. Auth is
``Authorization: Bearer <token>``, one organization per token. Timestamps render as
``2026-04-27T13:22:05.114Z``. Unknown query parameters are ignored.
"""

from __future__ import annotations

from simulators.core.accounts import Account
from simulators.core.ratelimit import RateLimiter
from simulators.core.request_log import RequestRecord

from .auth import DEFAULT_TOKEN, OTHER_TOKEN, account
from .clock import Clock, ManualClock, SystemClock, parse_instant
from .data import generate_leads
from .errors import ApiError
from .faults import FaultPlan, bad_lead
from .query import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from .schema import (
    DEFAULT_ORGANIZATION_ID,
    DETAIL_FIELDS,
    LEAD_PATH,
    LEADS_PATH,
    LIST_FIELDS,
    OTHER_ORGANIZATION_ID,
    PATCH_RESPONSE_FIELDS,
    SOURCES,
    STAGES,
    WRITABLE_FIELDS,
)
from .server import LeadsV1Server
from .store import LeadsV1Store

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_ORGANIZATION_ID",
    "DEFAULT_TOKEN",
    "DETAIL_FIELDS",
    "LEADS_PATH",
    "LEAD_PATH",
    "LIST_FIELDS",
    "MAX_LIMIT",
    "OTHER_ORGANIZATION_ID",
    "OTHER_TOKEN",
    "PATCH_RESPONSE_FIELDS",
    "SOURCES",
    "STAGES",
    "WRITABLE_FIELDS",
    "Account",
    "ApiError",
    "Clock",
    "FaultPlan",
    "LeadsV1Server",
    "LeadsV1Store",
    "ManualClock",
    "RateLimiter",
    "RequestRecord",
    "SystemClock",
    "account",
    "bad_lead",
    "decode_cursor",
    "encode_cursor",
    "generate_leads",
    "parse_instant",
]
