"""A request as the API pipeline sees it, and what it answers: a status, a body, headers, and
how to (mis)deliver it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]  # lower-case names, only the API's ``forwarded_headers``
    body: bytes = b""


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"
    action: str = "send"  # send | drop | truncate | hang
    hang_s: float = 0.0
