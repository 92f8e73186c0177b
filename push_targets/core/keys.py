"""Keys that make a push exactly once in effect.

The Idempotency-Key of a row is derived from (target, account, row key, payload hash): a retry,
a rerun after a crash, or dlt's replay of a batch sends the same key for the same content, and
the server answers with the original result; changed content gets a new key. It is rendered as
a UUID because Apollo's document asks for one ("UUID único pra evitar duplicação em retry", 002).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

_NAMESPACE = uuid.UUID("5b0c7a4e-4f39-4c55-9d7e-0b6f3f7c1a21")


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def payload_hash(payload: Mapping[str, Any]) -> str:
    """The content's hash for its Idempotency-Key (sent with the payload, never stored)."""
    return hashlib.sha256(canonical(payload)).hexdigest()[:32]


class Fingerprints:
    """Keyed hashes (HMAC-SHA256) of a payload and of each field, as the ledger keeps them: what
    changed is told later without keeping the values, and without the key nothing is told."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _hash(self, value: Any, size: int) -> str:
        return hmac.new(self._secret, canonical(value), hashlib.sha256).hexdigest()[:size]

    def payload(self, payload: Mapping[str, Any]) -> str:
        return self._hash(payload, 32)

    def fields(self, payload: Mapping[str, Any]) -> dict[str, str]:
        """One per field; a cleared field (None) hashes apart from an absent one (no entry)."""
        return {name: self._hash(value, 16) for name, value in payload.items()}

    def changed(self, known: Mapping[str, str], payload: Mapping[str, Any]) -> dict[str, Any]:
        """The fields of ``payload`` whose hash is not the one ``known`` (a ledger row's)."""
        return {
            name: value
            for name, value in payload.items()
            if known.get(name) not in (self._hash(value, 16), _legacy_field(value))
        }

    def legacy(self, stored: str | None, payload: Mapping[str, Any]) -> bool:
        """Whether ``stored`` is this content's hash as ledgers kept it before keyed hashes
        (unkeyed, of a payload without its empty fields): such a row is rewritten keyed."""
        filled = {name: value for name, value in payload.items() if value is not None}
        return stored is not None and stored == payload_hash(filled)


def _legacy_field(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()[:12]


def idempotency_key(target: str, account: str, row_key: str, content_hash: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{target}\n{account}\n{row_key}\n{content_hash}"))
