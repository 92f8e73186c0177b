"""Validation of POST /v1/leads bodies against the doc's request schema.

From the doc: ``required: [contact_name, pipeline_id]``; ``contact_name`` and
``company_name`` strings of at most 200 characters; ``email`` ``format: email``; ``phone``
"Formato E.164"; ``pipeline_id`` and ``owner_id`` ``format: uuid``; ``tags`` an array of
strings; ``value_cents`` an integer. A body that is not a JSON object is 400
``invalid_request``; an object the schema rejects is 400 ``validation_error`` naming the field.

ASSUMPTIONS where the doc is silent: the schema is closed (unknown fields are a 400 naming
them, so a typo is not dropped silently); ``contact_name`` has at least one character; no
field may be null (OpenAPI 3.1 ``type: string`` excludes null: omit the field instead);
``owner_id`` is any UUID (the doc has no users to check it against).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from simulators.core.bodies import json_object

from .errors import invalid_request, validation_error
from .schema import CREATE_FIELDS, MAX_NAME_LENGTH, REQUIRED_FIELDS

# RFC 4122 textual form, any version, either case (JSON Schema ``format: uuid``).
_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
# Pragmatic: one @, no whitespace, a dot in the domain.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# E.164: a + and up to 15 digits, the first not 0.
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and _UUID.match(value) is not None


def parse_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, else a 400 ``invalid_request``."""
    return json_object(body, invalid_request)


def validate_create(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a create, checked and normalised (UUIDs lower-case); 400 otherwise."""
    unknown = sorted(name for name in payload if name not in CREATE_FIELDS)
    if unknown:
        raise validation_error(
            f"Unknown field(s): {', '.join(unknown)}. Accepted: {', '.join(CREATE_FIELDS)}."
        )
    for name in REQUIRED_FIELDS:
        if name not in payload:
            raise validation_error(f"{name} is required.")
    return {name: _check(name, value) for name, value in payload.items()}


def _check(name: str, value: Any) -> Any:
    if value is None:
        raise validation_error(f"{name} must not be null; omit the field instead.")
    if name in ("contact_name", "company_name"):
        if not isinstance(value, str):
            raise validation_error(f"{name} must be a string.")
        minimum = 1 if name == "contact_name" else 0
        if not minimum <= len(value) <= MAX_NAME_LENGTH:
            raise validation_error(
                f"{name} must be {minimum} to {MAX_NAME_LENGTH} characters long."
            )
        return value
    if name in ("pipeline_id", "owner_id"):
        if not is_uuid(value):
            raise validation_error(f"{name} must be a UUID.")
        return value.lower()
    if name == "email":
        if not isinstance(value, str) or not _EMAIL.match(value):
            raise validation_error("email must be a valid email address.")
        return value
    if name == "phone":
        if not isinstance(value, str) or not _E164.match(value):
            raise validation_error("phone must be in E.164 format, e.g. +5511987654321.")
        return value
    if name == "tags":
        if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
            raise validation_error("tags must be an array of strings.")
        return list(value)
    # value_cents; bool is an int subclass, and JSON true or 10.0 is not an integer amount.
    if isinstance(value, bool) or not isinstance(value, int):
        raise validation_error("value_cents must be an integer (cents).")
    return value
