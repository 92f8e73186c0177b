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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import dlt
import httpx
import orjson
from dlt.common.configuration.inject import with_config

from sources.core.config_checks import SettingChecks
from sources.core.errors import ApiError, AuthenticationError, ConfigurationError
from sources.core.http import HttpClient
from sources.core.pacing import ClientStats, RateLimitPacer
from sources.core.retry import DEFAULT_RETRY

from .core import validate as check
from .core.ledger import Entry
from .core.push import REJECTING, Rejected, Sent
from .core.rows import filled, mapped, parse_mapping
from .core.sink import push_batch

NAME = "apollo"
CHECKS = SettingChecks(NAME, kind="destination")
DEFAULT_BASE_URL = "https://api.apollospace.ai/v1"  # 002 servers
BASE_URL_SETTING = "DESTINATION__APOLLO__BASE_URL"
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


@dataclass(frozen=True)
class ApolloTargetConfig:
    base_url: str
    api_token: str = field(repr=False)
    organization_id: str
    pipeline_id: str | None = None  # for rows without one
    mapping: Mapping[str, str] = field(default_factory=dict)


def _settings(
    api_token: str | None = dlt.secrets.value,
    organization_id: str | None = dlt.config.value,
    base_url: str = DEFAULT_BASE_URL,
    pipeline_id: str | None = None,
    field_map: str | None = None,
) -> ApolloTargetConfig:
    """Also ``[destination.apollo]`` settings / ``DESTINATION__APOLLO__<NAME>``."""
    token = CHECKS.require(api_token, "api_token", secret=True)
    check_not_expired(token)
    return ApolloTargetConfig(
        base_url=base_url,
        api_token=token,
        # 002: `X-Organization-Id` is `format: uuid`.
        organization_id=_uuid_setting(
            CHECKS.require(organization_id, "organization_id"), "organization_id"
        ),
        pipeline_id=_uuid_setting(pipeline_id, "pipeline_id") if pipeline_id else None,
        mapping=parse_mapping(field_map, FIELDS),
    )


def _uuid_setting(value: str, name: str) -> str:
    try:
        return check.uuid_text(value, name)
    except Rejected as exc:
        raise ConfigurationError(f"{exc} (setting {CHECKS.setting_name(name)})") from None


resolve_config = with_config(_settings, sections=("destination", NAME))


def token_expiry(token: str) -> datetime | None:
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
            f"joined by dots): set {CHECKS.setting_name('api_token')} to the id_token of a login"
        )
    exp = claims.get("exp")
    return datetime.fromtimestamp(exp, timezone.utc) if isinstance(exp, int | float) else None


def check_not_expired(token: str, now: datetime | None = None) -> None:
    expiry = token_expiry(token)
    if expiry is not None and expiry <= (now or datetime.now(timezone.utc)):
        raise ConfigurationError(
            f"the Apollo token (a Cognito id_token) expired at {expiry:%Y-%m-%d %H:%M:%S} UTC: "
            "log in again and set DESTINATION__APOLLO__API_TOKEN"
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


class ApolloTarget:
    name = NAME
    upsert = False

    def __init__(self, config: ApolloTargetConfig, in_flight: int = 1) -> None:
        """``in_flight``: requests sent at once; the pacer keeps that many in reserve."""
        self.config = config
        self.mapping = config.mapping
        # Fields every row needs: a missing column is one settings error, not a reject per row.
        self.required = {"contact_name": ""}
        if not config.pipeline_id:
            self.required["pipeline_id"] = f" or set {CHECKS.setting_name('pipeline_id')}"
        self.account = config.organization_id
        self.stats = ClientStats()
        pacer = RateLimitPacer(reserve=max(1, in_flight), stats=self.stats)
        self._http = HttpClient(
            config.base_url,
            base_url_setting=BASE_URL_SETTING,
            auth_headers={
                "Authorization": f"Bearer {config.api_token}",
                "X-Organization-Id": config.organization_id,
            },
            secrets=(config.api_token,),
            read_error=read_error,
            retry=DEFAULT_RETRY,
            stats=self.stats,
            pacer=pacer,
        )

    def close(self) -> None:
        self._http.close()

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
            response = self._http.request(
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
                    "DESTINATION__APOLLO__API_TOKEN",
                ) from None
            raise
        except ApiError as exc:
            if exc.status not in REJECTING:
                raise
            found = _REQUEST_ID.search(exc.api_message)
            reason = f"{exc.status} {exc.error_type}: {exc.api_message}"
            raise Rejected(reason, found.group(1) if found else None) from None
        lead = self._http.decode_object(response, "create lead")
        return Sent("created", str(lead.get("id")))


@dlt.destination(name=NAME, batch_size=200, skip_dlt_columns_and_tables=True)
def apollo(
    items: Any,
    table: Any,
    api_token: str = dlt.secrets.value,
    organization_id: str = dlt.config.value,
    base_url: str = DEFAULT_BASE_URL,
    pipeline_id: str | None = None,
    field_map: str | None = None,
    key_column: str = "id",
    concurrency: int = 8,
    ledger_path: str = "push_ledger.duckdb",
) -> None:
    """Rows of any dlt pipeline created as Apollo Space leads (``destination=apollo()``)."""
    config = _settings(api_token, organization_id, base_url, pipeline_id, field_map)
    push_batch(
        ApolloTarget(config, concurrency), items, table, key_column, ledger_path, concurrency
    )
