"""The MEGA Public CRM Lead API on the shared HTTP core (``sources/core/http.py``): its auth
headers, how its error body reads, its retry policy and its two endpoints (list and create).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx
import orjson

from sources.core.connect import check_base_url as check_url
from sources.core.errors import MalformedResponseError
from sources.core.http import DEFAULT_TIMEOUT, HttpClient, with_defaults
from sources.core.retry import DEFAULT_RETRY, RetryPolicy

from . import settings

BASE_URL_SETTING = "SOURCES__MEGA__BASE_URL"
# MEGA's defaults (settings.py); config.py overrides them from the source's settings.
# The core's policy and timeouts, named; config.py applies the source's settings.
RETRY = replace(DEFAULT_RETRY, name="mega")
TIMEOUT = DEFAULT_TIMEOUT

# RetryPolicy: the type of `retry`, for callers that build their own.
__all__ = ["RETRY", "MegaClient", "RetryPolicy", "check_base_url", "read_error"]


def check_base_url(base_url: str) -> str:
    return check_url(base_url, BASE_URL_SETTING)


def read_error(response: httpx.Response) -> tuple[str, str]:
    """``(type, message)`` of MEGA's error body ``{"error": {"type", "code", "message"}}``
    (seeds 001/000); the status's reason phrase when the body is not that."""
    error_type, message = "unknown", response.reason_phrase or "no message"
    try:
        body = orjson.loads(response.content)
        detail = body["error"] if isinstance(body, dict) else None
        if isinstance(detail, dict):
            error_type = str(detail.get("type", error_type))
            message = str(detail.get("message", message))
    except (orjson.JSONDecodeError, KeyError):
        pass
    return error_type, message


class MegaClient:
    """The lead endpoints of one MEGA customer. Thread-safe (its HttpClient is)."""

    def __init__(
        self,
        base_url: str,
        api_token: str,
        customer_id: str,
        *,
        base_url_setting: str = BASE_URL_SETTING,
        **http_options: Any,
    ) -> None:
        """``http_options``: ``HttpClient``'s (timeout, retry, pacer, stats, sleep, answered);
        this API's timeout and retry rules where not given."""
        self._api_token = api_token
        self._customer_id = customer_id
        self.http = HttpClient(
            base_url,
            base_url_setting=base_url_setting,
            auth_headers={"Authorization": f"Bearer {api_token}", "x-customer-id": customer_id},
            secrets=(api_token,),
            read_error=read_error,
            **with_defaults(http_options, timeout=TIMEOUT, retry=RETRY),
        )
        self.stats = self.http.stats

    @property
    def base_url(self) -> str:
        return self.http.base_url

    def close(self) -> None:
        self.http.close()

    def decode_object(self, response: httpx.Response, context: str) -> dict[str, Any]:
        return self.http.decode_object(response, context)

    def __enter__(self) -> MegaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def child_spec(self) -> dict[str, Any]:
        """What a fetch process needs to make the same requests (it holds the token: it goes
        to the child's stdin only, never to a log)."""
        return self.http.spec() | {"api_token": self._api_token, "customer_id": self._customer_id}

    @classmethod
    def from_child_spec(cls, spec: Mapping[str, Any]) -> MegaClient:
        options = HttpClient.options_from_spec(spec)
        return cls(spec["base_url"], spec["api_token"], spec["customer_id"], **options)

    def list_leads(self, params: Mapping[str, str], context: str = "") -> dict[str, Any]:
        return self.decode_object(self.list_leads_response(params, context), context)

    def list_leads_response(self, params: Mapping[str, str], context: str = "") -> httpx.Response:
        """A page, not yet decoded (see ``decode_object``)."""
        return self.http.request("GET", settings.LEADS_PATH, params=params, context=context)

    def create_lead(
        self, payload: Mapping[str, Any], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        response = self.http.request(
            "POST", settings.LEADS_PATH, json=payload, headers=headers, context="create lead"
        )
        body = self.decode_object(response, "create lead")
        if not isinstance(body.get("lead"), dict):
            raise MalformedResponseError("create lead: the answer has no `lead` object")
        return body["lead"]
