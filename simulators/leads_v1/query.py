"""GET /api/v1/leads query parameters and its cursor.

The doc: "Cursor-paginated. Default limit 50, max 200. Filter by pipeline_stage, source, and
created_at range (?start_at=ISO8601&end_at=ISO8601). Cursors are opaque base64url-encoded
JSON." Its example cursor decodes to ``{"created_at":"2026-04-27T13:22:05.114Z","id":"9f1c…"}``
(no padding): the last row's keyset position in (created_at, id) order, which is what the
simulator emits and accepts. ``start_at`` is inclusive and ``end_at`` exclusive (the doc does
not say; half-open ranges tile without overlap). Unknown parameters are ignored.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from .clock import is_api_ts, ts_bound
from .errors import invalid_request

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_DIGITS = re.compile(r"^[0-9]+$")
_B64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


@dataclass(frozen=True)
class ListQuery:
    limit: int = DEFAULT_LIMIT
    cursor: tuple[str, str] | None = None  # (created_at, id) of the previous page's last row
    pipeline_stage: str | None = None
    source: str | None = None
    start_at: str | None = None  # rendered bound: created_at >= start_at
    end_at: str | None = None  # rendered bound: created_at < end_at


def encode_cursor(created_at: str, lead_id: str) -> str:
    raw = orjson.dumps({"created_at": created_at, "id": lead_id})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(token: str) -> tuple[str, str]:
    invalid = invalid_request("Invalid cursor.")
    if not _B64URL.match(token):
        raise invalid
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):  # JSONDecodeError is a ValueError
        raise invalid from None
    if not isinstance(data, dict) or set(data) != {"created_at", "id"}:
        raise invalid
    created_at, lead_id = data["created_at"], data["id"]
    if not is_api_ts(created_at) or not isinstance(lead_id, str) or not lead_id:
        raise invalid
    return created_at, lead_id


def _text(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not value:
        raise invalid_request(f"Invalid {name}: must not be empty.")
    return value


def _limit(params: Mapping[str, str]) -> int:
    value = params.get("limit")
    if value is None:
        return DEFAULT_LIMIT
    if not _DIGITS.match(value) or not 1 <= int(value) <= MAX_LIMIT:
        raise invalid_request(f"Invalid limit: must be an integer between 1 and {MAX_LIMIT}.")
    return int(value)


def _bound(params: Mapping[str, str], name: str) -> str | None:
    value = _text(params, name)
    if value is None:
        return None
    try:
        return ts_bound(value)
    except ValueError:
        raise invalid_request(f"Invalid {name}: expected an ISO 8601 timestamp.") from None


def parse_list_params(params: Mapping[str, str]) -> ListQuery:
    """Validate the query string; raise 400 ``invalid_request`` otherwise."""
    cursor = _text(params, "cursor")
    return ListQuery(
        limit=_limit(params),
        cursor=decode_cursor(cursor) if cursor is not None else None,
        pipeline_stage=_text(params, "pipeline_stage"),
        source=_text(params, "source"),
        start_at=_bound(params, "start_at"),
        end_at=_bound(params, "end_at"),
    )
