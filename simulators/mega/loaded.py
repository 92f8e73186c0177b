"""What a faithful copy of MEGA's leads holds besides the leads' own fields: their custom
fields, one row per lead and slug, the value as text and its JSON type (what the contract
suite and the MEGA tests compare a warehouse's ``leads__custom_fields`` with)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def as_text(value: Any) -> tuple[str | None, str]:
    """A custom field's value as text (numbers in plain decimal) and its JSON type."""
    if value is None:
        return None, "null"
    if isinstance(value, bool):
        return ("true" if value else "false"), "boolean"
    if isinstance(value, int):
        return str(value), "number"
    if isinstance(value, float):
        return format(Decimal(str(value)), "f"), "number"
    return str(value), "string"


def custom_field_rows(leads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for lead in leads:
        for slug, value in (lead.get("custom_fields") or {}).items():
            text, kind = as_text(value)
            rows.append({"lead_id": lead["id"], "slug": slug, "value": text, "value_type": kind})
    return rows
