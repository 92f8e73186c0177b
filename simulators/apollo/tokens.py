"""The bearer tokens: JWTs standing in for the doc's "Cognito id_token obtido após login".

A real Cognito id_token is RS256-signed by the user pool and carries the user's attributes.
The simulator signs HS256 with :data:`SIGNING_SECRET`, a fixed and published key (not a
secret: any process can mint tokens with :func:`issue_token`), and checks the signature of
every token it is sent. The payload is what the simulator reads::

    {"sub": "...", "token_use": "id", "custom:organizations": ["<uuid>", ...],
     "iat": <unix seconds>, "exp": <unix seconds>}

ASSUMPTION: the doc does not say how a token names its organizations; here the
``custom:organizations`` claim lists them and ``X-Organization-Id`` must be one of them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import orjson

from simulators.core.accounts import Account, derived_uuid
from simulators.core.clock import UTC

from .schema import DEFAULT_ORGANIZATION_ID

SIGNING_SECRET = b"apollo-simulator HS256 signing key (published, not a secret)"
ORGANIZATIONS_CLAIM = "custom:organizations"
_HEADER = {"alg": "HS256", "typ": "JWT"}
DEFAULT_SUB = "7d1e5c9a-2b4f-4a8e-9c3d-6f0a1b2c3d4e"


class InvalidToken(ValueError):
    """Not a token the simulator issued (format, algorithm, signature or claims)."""


@dataclass(frozen=True)
class Claims:
    sub: str
    organization_ids: frozenset[str]  # lower-case UUIDs
    expires_at: float  # unix seconds


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("not base64url") from None


def _sign(signing_input: bytes) -> str:
    return _b64encode(hmac.new(SIGNING_SECRET, signing_input, hashlib.sha256).digest())


def _unix(dt: datetime) -> int:
    return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp())


def issue_token(
    organization_ids: Iterable[str],
    expires_at: datetime,
    *,
    sub: str = DEFAULT_SUB,
    issued_at: datetime | None = None,
    token_use: str = "id",
) -> str:
    """A signed JWT for ``organization_ids`` that expires at ``expires_at`` (naive: UTC).
    ``token_use="access"`` makes the Cognito access token the API refuses."""
    payload = {
        "sub": sub,
        "token_use": token_use,
        ORGANIZATIONS_CLAIM: [str(org) for org in organization_ids],
        "iat": _unix(issued_at or datetime(2026, 1, 1, tzinfo=UTC)),
        "exp": _unix(expires_at),
    }
    head = _b64encode(orjson.dumps(_HEADER)) + "." + _b64encode(orjson.dumps(payload))
    return head + "." + _sign(head.encode("ascii"))


def decode_token(token: str) -> Claims:
    """The claims of a token the simulator signed, whether expired or not; else InvalidToken."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("a JWT has three parts")
    try:
        header = orjson.loads(_b64decode(parts[0]))
        payload = orjson.loads(_b64decode(parts[1]))
    except orjson.JSONDecodeError:
        raise InvalidToken("header or payload is not JSON") from None
    # "alg": "none" (and anything but HS256) is refused: the signature is what is trusted.
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidToken("unsupported algorithm")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
    if not hmac.compare_digest(_sign(signing_input), parts[2]):
        raise InvalidToken("bad signature")
    if not isinstance(payload, dict):
        raise InvalidToken("payload is not an object")
    if payload.get("token_use") != "id":
        raise InvalidToken("not an id token")
    exp, orgs, sub = payload.get("exp"), payload.get(ORGANIZATIONS_CLAIM), payload.get("sub")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise InvalidToken("exp must be a number")
    if not isinstance(orgs, list) or not all(isinstance(org, str) for org in orgs):
        raise InvalidToken(f"{ORGANIZATIONS_CLAIM} must be a list of strings")
    return Claims(str(sub), frozenset(org.lower() for org in orgs), float(exp))


# Valid for the default organization until 2099: never expires within a test run.
DEFAULT_TOKEN = issue_token([DEFAULT_ORGANIZATION_ID], datetime(2099, 1, 1, tzinfo=UTC))


def account(name: str) -> Account:
    """An account whose organization id (a UUID) and token (valid until 2099 for that one
    organization) are fixed by its name. Apollo only creates leads: no seeded data."""
    organization_id = derived_uuid("apollo", name)
    token = issue_token(
        [organization_id], datetime(2099, 1, 1, tzinfo=UTC), sub=derived_uuid("apollo-sub", name)
    )
    return Account(name, token, organization_id)
