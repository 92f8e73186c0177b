"""The Leads v1 API on the shared HTTP core (``sources/core/http.py``): its auth header, how its
error body reads, its retry policy, and its list and detail endpoints (seed 004).

004 says only "tenant-scoped" and "RLS enforced": this connector assumes a bearer token bound to
one organization (README).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from sources.core.errors import NotFoundError
from sources.core.http import DEFAULT_TIMEOUT, HttpClient, with_defaults
from sources.core.retry import DEFAULT_RETRY

from . import settings

BASE_URL_SETTING = "SOURCES__LEADS_V1__BASE_URL"
# The core's policy and timeouts, named; config.py applies the source's settings.
RETRY = replace(DEFAULT_RETRY, name="leads_v1")
TIMEOUT = DEFAULT_TIMEOUT


def read_error(response: httpx.Response) -> tuple[str, str]:
    """``(code, message)`` of an error body. 004 documents none; read are
    ``{"error": {"code", "message"}}``, ``{"error": "text"}`` and ``{"message": "text"}``,
    else the status's reason phrase."""
    code, message = "unknown", response.reason_phrase or "no message"
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return code, message
    if not isinstance(body, dict):
        return code, message
    detail = body.get("error")
    if isinstance(detail, dict):
        code = str(detail.get("code", detail.get("type", code)))
        message = str(detail.get("message", message))
    elif isinstance(detail, str):
        message = detail
    elif isinstance(body.get("message"), str):
        message = body["message"]
    return code, message


class LeadsV1Client:
    """The lead endpoints of one organization. Thread-safe (its HttpClient is)."""

    def __init__(
        self,
        base_url: str,
        api_token: str,
        *,
        base_url_setting: str = BASE_URL_SETTING,
        **http_options: Any,
    ) -> None:
        """``http_options``: ``HttpClient``'s (timeout, retry, pacer, stats, sleep); this API's
        timeout and retry rules where not given."""
        self.http = HttpClient(
            base_url,
            base_url_setting=base_url_setting,
            auth_headers={"Authorization": f"Bearer {api_token}"},
            secrets=(api_token,),
            read_error=read_error,
            **with_defaults(http_options, timeout=TIMEOUT, retry=RETRY),
        )
        self.stats = self.http.stats

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> LeadsV1Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def decode_object(self, response: httpx.Response, context: str) -> dict[str, Any]:
        return self.http.decode_object(response, context)

    def list_response(self, params: Mapping[str, str], context: str = "") -> httpx.Response:
        """A list page, not yet decoded (``decode_object``)."""
        return self.http.request("GET", settings.LEADS_PATH, params=params, context=context)

    def lead(self, lead_id: str, context: str = "") -> dict[str, Any] | None:
        """The full record; None when the API answers 404 (004: another organization's lead,
        or, for a lead just listed, one deleted since)."""
        path = f"{settings.LEADS_PATH}/{quote(lead_id, safe='')}"
        try:
            response = self.http.request("GET", path, context=context)
        except NotFoundError:
            return None
        return self.decode_object(response, context)

    def create_lead(self, payload: Mapping[str, Any], idempotency_key: str) -> dict[str, Any]:
        """``POST /api/v1/leads`` (004): 201 with the created record."""
        response = self.http.request(
            "POST",
            settings.LEADS_PATH,
            json=payload,
            headers={"Idempotency-Key": idempotency_key},
            context="create lead",
        )
        return self.decode_object(response, "create lead")

    def update_lead(
        self, lead_id: str, fields: Mapping[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        """``PATCH /api/v1/leads/{id}`` (004): whitelisted fields only."""
        context = f"update lead {lead_id}"
        response = self.http.request(
            "PATCH",
            f"{settings.LEADS_PATH}/{quote(lead_id, safe='')}",
            json=fields,
            headers={"Idempotency-Key": idempotency_key},
            context=context,
        )
        return self.decode_object(response, context)
