"""MEGA's authentication: a bearer token plus an ``x-customer-id`` header it must match, and
per-method scopes. The token table and header parsing are the core's."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from simulators.core.accounts import Account, derived_hex, derived_uuid
from simulators.core.auth import TokenInfo, bearer_token
from simulators.core.auth import normalize_tokens as _normalize

from .data import DEFAULT_CUSTOMER_ID
from .errors import ApiError

READ_SCOPE = "public_api:leads:read"
WRITE_SCOPE = "public_api:leads:write"
WEBHOOKS_SCOPE = "public_api:webhooks:manage"
DEFAULT_SCOPES = (READ_SCOPE, WRITE_SCOPE)
# A fixed, documented test token in the API's shape (``mega_`` + 64 hex); not a secret.
DEFAULT_TOKEN = "mega_" + hashlib.sha256(b"mega-simulator default token v1").hexdigest()


def account(name: str, n_leads: int = 0, seed: int = 0) -> Account:
    """An account whose token (``mega_`` + 64 hex) and customer id (a UUID, like
    DEFAULT_CUSTOMER_ID) are fixed by its name."""
    return Account(
        name, "mega_" + derived_hex("mega", name), derived_uuid("mega", name), n_leads, seed
    )


def account_grant(account: Account) -> TokenInfo:
    """What an account's token may do: its customer, read + write."""
    return TokenInfo(account.tenant_id, frozenset(DEFAULT_SCOPES))


def normalize_tokens(tokens: Mapping[str, Any] | None) -> dict[str, TokenInfo]:
    """``{token: {"customer_id": ..., "scopes": [...]}}``; scopes default to read + write;
    ``None``: DEFAULT_TOKEN for DEFAULT_CUSTOMER_ID."""
    return _normalize(tokens, DEFAULT_TOKEN, DEFAULT_CUSTOMER_ID, DEFAULT_SCOPES)


def authenticate(
    authorization: str | None,
    customer_header: str | None,
    tokens: Mapping[str, TokenInfo],
    required_scope: str,
) -> TokenInfo:
    """Return the key's identity or raise 401/403. Messages never echo what was sent."""
    token = bearer_token(authorization)
    if token is None:
        raise ApiError(401, "Missing or malformed Authorization header; expected 'Bearer <token>'.")
    info = tokens.get(token)
    if info is None:
        raise ApiError(401, "Invalid API key.")
    if not customer_header or not customer_header.strip():
        raise ApiError(401, "Missing x-customer-id header.")
    if customer_header.strip().lower() != info.customer_id.lower():
        raise ApiError(403, "This API key is not authorized for the requested customer.")
    if required_scope not in info.scopes:
        raise ApiError(403, f"This API key lacks the required scope {required_scope}.")
    return info
