"""Query-parameter parsing and the opaque keyset cursor of GET /api/agents/crm/leads."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from .clock import is_api_ts, since_bound
from .errors import ApiError, bad_request

SORT_FIELDS = ("created_at", "updated_at", "last_interaction_at")
KEYSET_SORTS = ("created_at", "updated_at")
SORT_DIRS = ("asc", "desc")
LEAD_LINES = ("buyer", "seller")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_INT = re.compile(r"^[0-9]+$")
_PHONE_LIKE = re.compile(r"^[0-9\s+().\-]*[0-9][0-9\s+().\-]*$")
_NON_DIGITS = re.compile(r"[^0-9]")


@dataclass(frozen=True)
class Filters:
    """Everything that decides *which* leads match (and so ``total``), not their order."""

    status: str | None = None
    stage_id: str | None = None
    search: str | None = None
    created_since: str | None = None
    updated_since: str | None = None
    lead_line: str | None = None


@dataclass(frozen=True)
class ListQuery:
    filters: Filters
    sort_by: str = "updated_at"
    sort_dir: str = "asc"
    include_custom_fields: bool = False
    cursor: tuple[str, str] | None = None  # (last sort value, last id)
    limit: int = DEFAULT_LIMIT
    offset: int = 0


@dataclass(frozen=True)
class SearchTerm:
    """Lower-cased text for name/email, plus the digits when the text looks like a phone."""

    text: str
    digits: str | None


def phone_digits(value: str) -> str:
    return _NON_DIGITS.sub("", value)


def search_term(raw: str) -> SearchTerm:
    # Phone matching only for phone-looking queries: digits pulled out of "Unit 4" would
    # otherwise match every phone that contains a 4.
    digits = phone_digits(raw) if _PHONE_LIKE.match(raw) else None
    if digits and len(digits) > 10:
        # "+1 206 555 0123" must find "(206) 555-0123": compare national numbers.
        digits = digits[-10:]
    return SearchTerm(raw.strip().lower(), digits or None)


def _opt(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    return value if value else None


def _enum(params: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = _opt(params, name)
    if value is None:
        return default
    if value not in allowed:
        raise bad_request(f"Invalid {name}: expected one of {', '.join(allowed)}.")
    return value


def _int(params: Mapping[str, str], name: str, default: int, lo: int, hi: int | None) -> int:
    value = _opt(params, name)
    if value is None:
        return default
    if not _INT.match(value):
        raise bad_request(f"Invalid {name}: must be an integer.")
    number = int(value)
    if number < lo or (hi is not None and number > hi):
        bounds = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        raise bad_request(f"Invalid {name}: must be {bounds}.")
    return number


def _since(params: Mapping[str, str], name: str) -> str | None:
    value = _opt(params, name)
    if value is None:
        return None
    try:
        return since_bound(value)
    except (ValueError, OverflowError):
        raise bad_request(f"Invalid {name}: expected an ISO-8601 timestamp.") from None


def parse_list_params(params: Mapping[str, str]) -> ListQuery:
    """Validate the query string exactly as the API documents it; raise 400 otherwise."""
    stage_id = _opt(params, "stageId")
    if stage_id is not None and not _UUID.match(stage_id):
        raise bad_request("Invalid stageId: expected a UUID.")
    lead_line = _opt(params, "lead_line")
    if lead_line is not None and lead_line not in LEAD_LINES:
        raise bad_request("Invalid lead_line: expected one of buyer, seller.")
    include = _opt(params, "include_custom_fields")
    if include is None:
        include_cf = False
    elif include.lower() in ("true", "1"):
        include_cf = True
    elif include.lower() in ("false", "0"):
        include_cf = False
    else:
        raise bad_request("Invalid include_custom_fields: expected true or false.")
    filters = Filters(
        status=_opt(params, "status"),
        stage_id=stage_id.lower() if stage_id else None,
        search=_opt(params, "search"),
        created_since=_since(params, "created_since"),
        updated_since=_since(params, "updated_since"),
        lead_line=lead_line,
    )
    sort_by = _enum(params, "sort_by", SORT_FIELDS, "updated_at")
    sort_dir = _enum(params, "sort_dir", SORT_DIRS, "asc")
    limit = _int(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int(params, "offset", 0, 0, None)
    raw_cursor = _opt(params, "cursor")
    cursor = None
    if raw_cursor is not None:
        if sort_by not in KEYSET_SORTS:
            raise bad_request(
                f"Cursor paging is not supported for sort_by={sort_by}; use offset paging."
            )
        cursor = decode_cursor(raw_cursor, sort_by, sort_dir)
    return ListQuery(filters, sort_by, sort_dir, include_cf, cursor, limit, offset)


def encode_cursor(sort_by: str, sort_dir: str, value: str, lead_id: str) -> str:
    raw = orjson.dumps({"sort_by": sort_by, "sort_dir": sort_dir, "value": value, "id": lead_id})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(token: str, sort_by: str, sort_dir: str) -> tuple[str, str]:
    invalid = bad_request("Invalid cursor.")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise invalid from None
    if not isinstance(data, dict):
        raise invalid
    value, lead_id = data.get("value"), data.get("id")
    if not is_api_ts(value) or not isinstance(lead_id, str) or not lead_id:
        raise invalid
    if data.get("sort_by") != sort_by or data.get("sort_dir") != sort_dir:
        raise ApiError(
            400,
            "Cursor is only valid for the sort it was created under "
            f"(sort_by={data.get('sort_by')}, sort_dir={data.get('sort_dir')}).",
        )
    assert isinstance(value, str)
    return value, lead_id
