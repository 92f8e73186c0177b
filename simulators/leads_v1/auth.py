"""Leads v1 authentication: ``Authorization: Bearer <token>``, each token bound to one
organization (the doc: "Each lead is bound to the calling organization"). Header parsing is
the core's; a missing or unknown token is a 401."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from simulators.core.accounts import Account, derived_hex, derived_uuid
from simulators.core.auth import bearer_token

from .errors import ApiError
from .schema import DEFAULT_ORGANIZATION_ID

# Fixed, documented test tokens (not secrets); the doc does not show the real token format.
DEFAULT_TOKEN = "lv1_" + hashlib.sha256(b"leads-v1-simulator default token v1").hexdigest()
OTHER_TOKEN = "lv1_" + hashlib.sha256(b"leads-v1-simulator other token v1").hexdigest()


def account(name: str, n_leads: int = 0, seed: int = 0) -> Account:
    """An account whose token (``lv1_`` + 64 hex) and organization id (a UUID) are fixed by
    its name. Accounts of one server need distinct seeds (lead ids come from the seed)."""
    token = "lv1_" + derived_hex("leads_v1", name)
    return Account(name, token, derived_uuid("leads_v1", name), n_leads, seed)


def normalize_tokens(tokens: Mapping[str, str] | None) -> dict[str, str]:
    """``{token: organization_id}``; ``None``: DEFAULT_TOKEN for DEFAULT_ORGANIZATION_ID."""
    if tokens is None:
        return {DEFAULT_TOKEN: DEFAULT_ORGANIZATION_ID}
    return {str(token): str(org) for token, org in tokens.items()}


def authenticate(authorization: str | None, tokens: Mapping[str, str]) -> str:
    """The caller's organization id, or a 401. Messages never echo what was sent."""
    token = bearer_token(authorization)
    if token is None:
        raise ApiError(
            401,
            "Missing or malformed Authorization header; expected 'Bearer <token>'.",
            "unauthorized",
        )
    organization_id = tokens.get(token)
    if organization_id is None:
        raise ApiError(401, "Invalid API token.", "unauthorized")
    return organization_id
