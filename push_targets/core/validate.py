"""Checks of a row's values against a target's document, before anything is sent: a value that
fails rejects its row with the reason (``Rejected``), and no request is made. A reason names the
field and the rule, never the value: it is kept in the ledger, which holds no personal data."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from .push import Rejected

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")


def text(value: Any, field: str, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        raise Rejected(f"{field} must be text, got {type(value).__name__}")
    if max_length is not None and len(value) > max_length:
        raise Rejected(f"{field} is longer than {max_length} characters")
    return value


def email(value: Any, field: str = "email") -> str:
    if not _EMAIL.match(text(value, field)):
        raise Rejected(f"{field} is not an email address")
    return str(value)


def e164(value: Any, field: str = "phone") -> str:
    if not _E164.match(text(value, field)):
        raise Rejected(f"{field} must be E.164 like +5511912345678")
    return str(value)


def uuid_text(value: Any, field: str) -> str:
    try:
        return str(uuid.UUID(text(value, field)))
    except ValueError:
        raise Rejected(f"{field} must be a UUID") from None


def integer(value: Any, field: str, low: int | None = None, high: int | None = None) -> int:
    """An integer; digit text counts (CSV files hold text)."""
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value)
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is None:
        raise Rejected(f"{field} must be a whole number")
    if (low is not None and number < low) or (high is not None and number > high):
        raise Rejected(f"{field} must be from {low} to {high}")
    return number


def one_of(value: Any, field: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise Rejected(f"{field} must be one of {', '.join(allowed)}")
    return str(value)


def text_list(value: Any, field: str) -> list[str]:
    """A list of text; text separated by ``;`` counts (a CSV cell)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Rejected(f"{field} must be a list of text")
    return list(value)
