"""Validation of the POST /api/agents/crm/leads body (LeadCreateRequest) and of store edits."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .data import LEAD_LINES, SOURCE_PLATFORMS, SOURCE_TYPES
from .errors import bad_request

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
CONTACT_FIELDS = ("contact_name", "contact_phone", "contact_email")
_STRING_FIELDS = (*CONTACT_FIELDS, "source_platform", "source_type", "stage_slug")


def is_scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, bool, int, float))


def validate_custom_fields(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request("custom_fields must be an object.")
    for slug, field_value in value.items():
        if not slug:
            raise bad_request("custom_fields keys must be non-empty slugs.")
        if not is_scalar(field_value):
            raise bad_request(
                f"custom_fields.{slug} must be a scalar (string, number, boolean or null)."
            )
        if slug == "lead_line" and field_value is not None and field_value not in LEAD_LINES:
            raise bad_request("custom_fields.lead_line must be buyer or seller.")
    return dict(value)


def validate_create(payload: object, stage_slugs: Mapping[str, object]) -> dict[str, Any]:
    """Return the cleaned payload: provided, non-null fields only."""
    if not isinstance(payload, dict):
        raise bad_request("Request body must be a JSON object.")
    clean: dict[str, Any] = {}
    for name in _STRING_FIELDS:
        value = payload.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise bad_request(f"{name} must be a string.")
        value = value.strip()
        if value:
            clean[name] = value
    if not any(name in clean for name in CONTACT_FIELDS):
        raise bad_request("At least one of contact_name, contact_phone, contact_email is required.")
    email = clean.get("contact_email")
    if email is not None and not _EMAIL.match(email):
        raise bad_request("contact_email must be a valid email address.")
    platform = clean.get("source_platform")
    if platform is not None and platform not in SOURCE_PLATFORMS:
        raise bad_request(
            f"Invalid source_platform: expected one of {', '.join(SOURCE_PLATFORMS)}."
        )
    source_type = clean.get("source_type")
    if source_type is not None and source_type not in SOURCE_TYPES:
        raise bad_request(f"Invalid source_type: expected one of {', '.join(SOURCE_TYPES)}.")
    slug = clean.get("stage_slug")
    if slug is not None and slug not in stage_slugs:
        raise bad_request(f"Unknown stage_slug: {slug[:64]}.")
    if payload.get("custom_fields") is not None:
        clean["custom_fields"] = validate_custom_fields(payload["custom_fields"])
    return clean


# Fields ``LeadStore.update`` accepts and a type check for each.
UPDATABLE: dict[str, tuple[type, ...]] = {
    "contact_name": (str, type(None)),
    "contact_phone": (str, type(None)),
    "contact_email": (str, type(None)),
    "source_platform": (str,),
    "source_type": (str,),
    "status": (str,),
    "score": (int, type(None)),
    "qualified": (bool, type(None)),
    "current_stage": (dict, type(None)),
    "owner": (dict, type(None)),
    "last_interaction_at": (str, type(None)),
    "interaction_count": (int,),
    "custom_fields": (dict,),
}
