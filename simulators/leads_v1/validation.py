"""Validation of POST and PATCH /api/v1/leads bodies.

From the doc: POST "Validates email format if provided. At least one of email, or (name +
company), is required"; PATCH takes "Whitelisted fields only: name, company, email, source,
lead_score (0–100), pipeline_stage, industry, company_size, pain_points, timeline,
budget_range, ai_reasoning". POST accepts the same whitelist (the doc's create example uses
only fields from it). A body that is not a JSON object is a 400; a JSON object the rules
reject is a 422 naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from simulators.core.bodies import json_object

from .errors import invalid_request, validation_error
from .schema import WRITABLE_FIELDS

# Pragmatic: one @, no whitespace, a dot in the domain (what a Postgres CHECK would test).
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_NOT_NULL = ("lead_score", "pipeline_stage")


def parse_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, else a 400 ``invalid_request``."""
    return json_object(body, invalid_request)


def validate_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The whitelisted fields of ``payload``, type-checked; 422 for anything else."""
    unknown = [name for name in payload if name not in WRITABLE_FIELDS]
    if unknown:
        names = ", ".join(sorted(unknown))
        raise validation_error(
            f"Unknown or read-only field(s): {names}. Writable: {', '.join(WRITABLE_FIELDS)}."
        )
    clean: dict[str, Any] = {}
    for name, value in payload.items():
        if value is None and name in _NOT_NULL:
            raise validation_error(f"{name} must not be null.")
        if name == "lead_score":
            # bool is an int subclass; JSON true is not a score.
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                raise validation_error("lead_score must be an integer between 0 and 100.")
        elif value is not None and not isinstance(value, str):
            raise validation_error(f"{name} must be a string or null.")
        elif name == "pipeline_stage" and not str(value).strip():
            raise validation_error("pipeline_stage must not be empty.")
        elif name == "email" and value is not None and not _EMAIL.match(value):
            raise validation_error("email must be a valid email address.")
        clean[name] = value
    return clean


def validate_create(payload: Mapping[str, Any]) -> dict[str, Any]:
    clean = validate_fields(payload)

    def given(name: str) -> bool:
        value = clean.get(name)
        return isinstance(value, str) and bool(value.strip())

    if not (given("email") or (given("name") and given("company"))):
        raise validation_error("At least one of email, or name and company, is required.")
    return clean


def validate_patch(payload: Mapping[str, Any]) -> dict[str, Any]:
    clean = validate_fields(payload)
    if not clean:
        raise validation_error("The body must set at least one writable field.")
    return clean
