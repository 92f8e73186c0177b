"""Apollo Space's create endpoint as a push target: ``POST /leads`` (seed 002, Portuguese).

Create-only. Headers: a bearer JWT (002: "Cognito id_token obtido após login"), the UUID
``X-Organization-Id`` and the ``Idempotency-Key``. An id_token expires (Cognito: one hour by
default): its ``exp`` claim is read before anything is sent, and a 401 saying so mid-push is
named as such. Errors carry a ``request_id`` (002: "Cole no chamado ao suporte"), kept in the
ledger for rejected rows.
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, ClassVar

import dlt
import httpx
import orjson
from dlt.common.configuration.specs import configspec

from sources.core.errors import ApiError, AuthenticationError, ConfigurationError
from sources.core.http import HttpClient
from sources.core.retry import DEFAULT_RETRY

from .core import validate as check
from .core.ledger import Entry
from .core.push import REJECTING, Rejected, Sent
from .core.rows import filled, mapped
from .core.settings import PushSettings
from .core.sink import push_batch
from .core.target import ApiTarget

NAME = "apollo"
TOKEN_SETTING = "DESTINATION__APOLLO__API_TOKEN"
DEFAULT_BASE_URL = "https://api.apollospace.ai/v1"  # 002 servers
RETRY = replace(DEFAULT_RETRY, name=NAME)
FIELDS = (
    "contact_name",
    "company_name",
    "email",
    "phone",
    "pipeline_id",
    "owner_id",
    "tags",
    "value_cents",
)
_REQUEST_ID = re.compile(r"\(request_id ([^)\s]+)\)")


@configspec
class ApolloTargetSettings(PushSettings):
    """``[destination.apollo]``: the token (a Cognito id_token), the organization, and the
    pipeline for rows without one."""

    __setting_section__: ClassVar[str] = NAME
    __target_fields__: ClassVar[tuple[str, ...]] = FIELDS
    # Each account of several names its own organization (002: X-Organization-Id).
    __account_settings__: ClassVar[tuple[str, ...]] = ("api_token", "organization_id")

    base_url: str | None = DEFAULT_BASE_URL
    organization_id: str | None = None
    pipeline_id: str | None = None  # for rows without one

    @property
    def ledger_account(self) -> str:
        return str(self.organization_id)

    def on_resolved(self) -> None:
        check_not_expired(str(self.api_token), self.checks.setting_name("api_token"))
        # 002: `X-Organization-Id` is `format: uuid`.
        self.organization_id = self._uuid(
            self.checks.require(self.organization_id, "organization_id"), "organization_id"
        )
        self.pipeline_id = self._uuid(self.pipeline_id, "pipeline_id") if self.pipeline_id else None

    def _uuid(self, value: str, name: str) -> str:
        try:
            return check.uuid_text(value, name)
        except Rejected as exc:
            raise ConfigurationError(f"{exc} (setting {self.checks.setting_name(name)})") from None


def token_expiry(token: str, setting: str = TOKEN_SETTING) -> datetime | None:
    """The JWT's ``exp`` claim, read without verifying it (the server does that); a token that
    is no JWT is a settings error (002: a bearer JWT), refused before anything is sent."""
    parts = token.split(".")
    claims = None
    if len(parts) == 3:
        with contextlib.suppress(ValueError, orjson.JSONDecodeError):
            claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    if not isinstance(claims, dict):
        raise ConfigurationError(
            "the Apollo token is not a JWT (002: a Cognito id_token, three base64url parts "
            f"joined by dots): set {setting} to the id_token of a login"
        )
    exp = claims.get("exp")
    return datetime.fromtimestamp(exp, timezone.utc) if isinstance(exp, int | float) else None


def check_not_expired(
    token: str, setting: str = TOKEN_SETTING, now: datetime | None = None
) -> None:
    """``setting``: the token's variable (an account's, of several)."""
    expiry = token_expiry(token, setting)
    if expiry is not None and expiry <= (now or datetime.now(timezone.utc)):
        raise ConfigurationError(
            f"the Apollo token (a Cognito id_token) expired at {expiry:%Y-%m-%d %H:%M:%S} UTC: "
            f"log in again and set {setting}"
        )


def read_error(response: httpx.Response) -> tuple[str, str]:
    """002's ``{"error": {"code", "message", "request_id"}}``; the request id goes with the
    message, for the support ticket."""
    code, message = "unknown", response.reason_phrase or "no message"
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return code, message
    detail = body.get("error") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        code = str(detail.get("code", code))
        message = str(detail.get("message", message))
        if detail.get("request_id"):
            message += f" (request_id {detail['request_id']})"
    return code, message


class ApolloTarget(ApiTarget):
    name = NAME
    retry = RETRY
    config: ApolloTargetSettings

    def __init__(self, config: ApolloTargetSettings, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        # Fields every row needs: a missing column is one settings error, not a reject per row.
        self.required = {"contact_name": ""}
        if not config.pipeline_id:
            self.required["pipeline_id"] = f" or set {config.checks.setting_name('pipeline_id')}"

    def open_client(self, **http_options: Any) -> HttpClient:
        token = str(self.config.api_token)
        return HttpClient(
            str(self.config.base_url),
            auth_headers={"Authorization": f"Bearer {token}", "X-Organization-Id": self.account},
            secrets=(token,),
            read_error=read_error,
            **http_options,
        )

    def payload(self, row: Mapping[str, Any]) -> dict[str, Any]:
        values = filled(mapped(row, self.config.mapping, FIELDS))
        if self.config.pipeline_id and "pipeline_id" not in values:
            values["pipeline_id"] = self.config.pipeline_id
        for required in ("contact_name", "pipeline_id"):
            if required not in values:
                raise Rejected(f"{required} is required (002)")
        payload: dict[str, Any] = {
            "contact_name": check.text(values["contact_name"], "contact_name", 200),
            "pipeline_id": check.uuid_text(values["pipeline_id"], "pipeline_id"),
        }
        if "company_name" in values:
            payload["company_name"] = check.text(values["company_name"], "company_name", 200)
        if "email" in values:
            payload["email"] = check.email(values["email"])
        if "phone" in values:
            payload["phone"] = check.e164(values["phone"])
        if "owner_id" in values:
            payload["owner_id"] = check.uuid_text(values["owner_id"], "owner_id")
        if "tags" in values:
            payload["tags"] = check.text_list(values["tags"], "tags")
        if "value_cents" in values:
            payload["value_cents"] = check.integer(values["value_cents"], "value_cents")
        return payload

    def send(
        self, payload: dict[str, Any], key: str, entry: Entry | None, changed: dict[str, Any]
    ) -> Sent:
        try:
            response = self._client.request(
                "POST",
                "leads",
                json=payload,
                headers={"Idempotency-Key": key},
                context="create lead",
            )
        except AuthenticationError as exc:
            if exc.error_type == "token_expired":
                raise AuthenticationError(
                    401,
                    exc.error_type,
                    "the Apollo token (a Cognito id_token) has expired: log in again and set "
                    f"{self.config.checks.setting_name('api_token')}",
                ) from None
            raise
        except ApiError as exc:
            if exc.status not in REJECTING:
                raise
            found = _REQUEST_ID.search(exc.api_message)
            reason = f"{exc.status} {exc.error_type}: {exc.api_message}"
            raise Rejected(reason, found.group(1) if found else None) from None
        lead = self._client.decode_object(response, "create lead")
        return Sent("created", str(lead.get("id")))


@dlt.destination(
    name=NAME, batch_size=200, skip_dlt_columns_and_tables=True, spec=ApolloTargetSettings
)
def apollo(
    items: Any, table: Any, settings: ApolloTargetSettings = dlt.config.value, **given: Any
) -> None:
    """Rows of any dlt pipeline created as Apollo Space leads (``destination=apollo()``).
    ``given`` (to the factory, as ``apollo(field_map=…)``): any ``ApolloTargetSettings``; dlt
    resolves them with config into ``settings``."""
    target = ApolloTarget(settings, settings.concurrency)
    push_batch(
        target, items, table, settings.key_column, settings.ledger_path, settings.concurrency
    )
