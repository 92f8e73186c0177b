"""Local simulator of the Apollo Space API's "Criar lead" endpoint (vendor document: seed
002, OpenAPI ``0.1.0-preview``, ``POST /leads`` on ``https://api.apollospace.ai/v1``), built
on the shared server core (``simulators.core``)::

    with ApolloServer() as sim:  # sim.url == "http://127.0.0.1:PORT/v1"
        httpx.post(
            sim.url + "/leads",
            json={"contact_name": "Ana Souza", "pipeline_id": DEFAULT_PIPELINE_ID},
            headers={
                "Authorization": f"Bearer {DEFAULT_TOKEN}",
                "X-Organization-Id": DEFAULT_ORGANIZATION_ID,
            },
        )

``POST /v1/leads`` answers 201 with the doc's ``Lead`` (``LEAD_FIELDS``: ``stage`` is the
pipeline's default stage, ``tags`` defaults to ``[]``, absent fields are null) and a
``Location``. ``Idempotency-Key`` (per organization and endpoint): the same body replays the
first 201 (``Idempotent-Replayed: true``), another body is a 409. Other methods are 405,
other paths 404.

Auth (``tokens.py``, ``auth.py``): ``Authorization: Bearer <JWT>`` where the JWT is one
``issue_token`` signed (HS256, published key) with ``token_use: "id"`` and the organizations
in ``custom:organizations``; ``X-Organization-Id`` (required) picks one of them.

Errors are the doc's ``Error``: ``{"error": {"code", "message", "request_id"}}``, with an
``X-Request-Id`` header equal to ``request_id`` (every answer has the header). Codes
(ASSUMPTIONS, the doc lists statuses only):

- 400 ``invalid_request``: body not a JSON object; ``X-Organization-Id`` missing or not a UUID
- 400 ``validation_error``: the body breaks the doc's schema (the message names the field)
- 400 ``pipeline_not_found``: ``pipeline_id`` is not a pipeline of the organization
- 401 ``unauthorized`` (missing, malformed, unsigned or non-id token), ``token_expired``
- 403 ``forbidden``: the token does not list the organization
- 404 ``not_found``, 405 ``method_not_allowed``
- 409 ``duplicate_lead``: the e-mail (case-insensitive) is already a lead of the organization
  (the doc's 409 is "Conflito (duplicate, race condition)"); 409 ``idempotency_conflict``
- 429 ``rate_limited`` (``Retry-After``; ``RateLimit-*`` headers on every answer)
- 5xx ``internal_error``/``bad_gateway``/``service_unavailable``/``gateway_timeout`` (faults)

Several organizations on one server: ``ApolloServer(accounts=[account("acme"), ...])``, each
with its own token, one pipeline, rate-limit budget and faults; ``sim.account_settings("acme")``
gives the destination's base_url, api_token, organization_id and pipeline_id.

Timestamps render as ``2026-04-27T13:22:05.114Z``.
"""

from __future__ import annotations

from simulators.core.accounts import Account
from simulators.core.clock import Clock, ManualClock, SystemClock
from simulators.core.ratelimit import RateLimiter
from simulators.core.request_log import RequestRecord

from .errors import REQUEST_ID_HEADER, ApiError
from .faults import FaultPlan
from .schema import (
    CREATE_FIELDS,
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_PIPELINE_ID,
    LEAD_FIELDS,
    LEADS_PATH,
    OTHER_ORGANIZATION_ID,
    OTHER_PIPELINE_ID,
    SECOND_PIPELINE_ID,
)
from .server import ApolloServer
from .store import ApolloStore
from .tokens import (
    DEFAULT_TOKEN,
    SIGNING_SECRET,
    Claims,
    InvalidToken,
    account,
    decode_token,
    issue_token,
)

__all__ = [
    "CREATE_FIELDS",
    "DEFAULT_ORGANIZATION_ID",
    "DEFAULT_PIPELINE_ID",
    "DEFAULT_TOKEN",
    "LEADS_PATH",
    "LEAD_FIELDS",
    "OTHER_ORGANIZATION_ID",
    "OTHER_PIPELINE_ID",
    "REQUEST_ID_HEADER",
    "SECOND_PIPELINE_ID",
    "SIGNING_SECRET",
    "Account",
    "ApiError",
    "ApolloServer",
    "ApolloStore",
    "Claims",
    "Clock",
    "FaultPlan",
    "InvalidToken",
    "ManualClock",
    "RateLimiter",
    "RequestRecord",
    "SystemClock",
    "account",
    "decode_token",
    "issue_token",
]
