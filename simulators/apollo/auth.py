"""Who may call: ``Authorization: Bearer <JWT>`` (the doc's ``bearerAuth``, "Cognito id_token
obtido após login") and the required ``X-Organization-Id`` header naming the organization a
request acts in (the doc: "Cria um lead na organização ativa").

Checked in this order: the token (401 ``unauthorized``; 401 ``token_expired`` once its ``exp``
has passed by the server's clock), then the header (400 ``invalid_request`` when missing or
not a UUID), then the token's right to that organization (403 ``forbidden``). Messages never
echo what was sent.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from datetime import datetime

from simulators.core.auth import bearer_token

from .errors import forbidden, invalid_request, unauthorized
from .tokens import Claims, InvalidToken, decode_token
from .validation import is_uuid

ORGANIZATION_HEADER = "x-organization-id"


def accepted_tokens(tokens: Iterable[str] | None) -> frozenset[str] | None:
    """``None``: any token the simulator signed; else only these (each must be one it signed:
    a typo fails here, not as a puzzling 401 later)."""
    if tokens is None:
        return None
    accepted = frozenset(tokens)
    for token in accepted:
        try:
            decode_token(token)
        except InvalidToken as exc:
            raise ValueError(
                f"not a token issued by simulators.apollo.issue_token: {exc}"
            ) from None
    return accepted


def authenticate(
    authorization: str | None, accepted: Container[str] | None, now: datetime
) -> Claims:
    """The claims of a valid, unexpired token, or a 401."""
    token = bearer_token(authorization)
    if token is None:
        raise unauthorized("Missing or malformed Authorization header; expected 'Bearer <JWT>'.")
    try:
        claims = decode_token(token)
    except InvalidToken:
        raise unauthorized("Invalid token.") from None
    if accepted is not None and token not in accepted:
        raise unauthorized("Invalid token.")
    # JWT (RFC 7519 §4.1.4): the token must not be accepted on or after its exp.
    if now.timestamp() >= claims.expires_at:
        raise unauthorized("Token expired; log in again for a new id_token.", "token_expired")
    return claims


def active_organization(header: str | None, claims: Claims) -> str:
    """The organization of ``X-Organization-Id`` (lower-case), or a 400 / 403."""
    if not header or not header.strip():
        raise invalid_request("The X-Organization-Id header is required.")
    organization_id = header.strip().lower()
    if not is_uuid(organization_id):
        raise invalid_request("X-Organization-Id must be a UUID.")
    if organization_id not in claims.organization_ids:
        raise forbidden("The token does not grant access to this organization.")
    return organization_id
