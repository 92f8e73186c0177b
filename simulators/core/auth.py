"""What bearer-token APIs share: the token table and reading ``Authorization: Bearer <t>``.

Which headers name the tenant, which scopes exist and the error messages are each API's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TokenInfo:
    customer_id: str
    scopes: frozenset[str]


def normalize_tokens(
    tokens: Mapping[str, Any] | None,
    default_token: str,
    default_customer_id: str,
    default_scopes: Iterable[str],
) -> dict[str, TokenInfo]:
    """``{token: {"customer_id": ..., "scopes": [...]}}`` (or TokenInfo values); scopes default
    to ``default_scopes``; ``None`` accepts only ``default_token`` for ``default_customer_id``."""
    if tokens is None:
        return {default_token: TokenInfo(default_customer_id, frozenset(default_scopes))}
    out: dict[str, TokenInfo] = {}
    for token, spec in tokens.items():
        if isinstance(spec, TokenInfo):
            out[token] = spec
        else:
            scopes = spec.get("scopes", default_scopes)
            out[token] = TokenInfo(str(spec["customer_id"]), frozenset(scopes))
    return out


def bearer_token(authorization: str | None) -> str | None:
    """The token of a well-formed ``Bearer <token>`` header (scheme case-insensitive), or None."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
