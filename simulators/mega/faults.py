"""Fault injection: make the simulator misbehave the ways real APIs and networks do.

Usage::

    server.faults.add(faults.status(503, retry_after=2), times=2)
    server.faults.add(faults.truncate(), after=3)  # the 4th matching request is cut short
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

LEADS_PATH = "/api/agents/crm/leads"
BAD_LEAD_MODES = ("no_id", "no_updated_at", "wrong_types")
# Faults that replace the response before the request is processed at all.
PRE_KINDS = frozenset({"status", "rate_limited", "drop", "html_200", "non_json_200"})
# Faults that alter a normally computed 200 body.
BODY_KINDS = frozenset({"missing_key", "bad_lead", "repeat_cursor"})


@dataclass(frozen=True)
class Fault:
    kind: str
    status: int = 0
    retry_after: int | str | None = None
    seconds: float = 0.0
    key: str | None = None
    mode: str | None = None
    fn: Callable[[Any], object] | None = None
    message: str | None = None


def status(code: int, retry_after: int | str | None = None, message: str | None = None) -> Fault:
    """Any status with the error model; ``retry_after`` is seconds or an HTTP-date string."""
    return Fault("status", status=code, retry_after=retry_after, message=message)


def rate_limited(retry_after: int | str = 1) -> Fault:
    return Fault("rate_limited", status=429, retry_after=retry_after)


def drop() -> Fault:
    """Close the connection without sending a byte of response."""
    return Fault("drop")


def slow(seconds: float) -> Fault:
    """Sleep, then answer normally."""
    return Fault("slow", seconds=seconds)


def hang(seconds: float) -> Fault:
    """Send status and headers, then stall before the body (a client read timeout)."""
    return Fault("hang", seconds=seconds)


def truncate() -> Fault:
    """Announce the full Content-Length, send half of the body, close."""
    return Fault("truncate")


def html_200() -> Fault:
    """A 200 with an HTML page, as a misrouted proxy or captive portal would send."""
    return Fault("html_200", status=200)


def non_json_200() -> Fault:
    """A 200 claiming application/json whose body does not parse."""
    return Fault("non_json_200", status=200)


def missing_key(key: str) -> Fault:
    """A normal page with a top-level key (e.g. ``leads`` or ``next_cursor``) removed."""
    return Fault("missing_key", key=key)


def bad_lead(mode: str) -> Fault:
    """Corrupt the first lead of a normal page: ``no_id``, ``no_updated_at``, ``wrong_types``."""
    if mode not in BAD_LEAD_MODES:
        raise ValueError(f"mode must be one of {BAD_LEAD_MODES}")
    return Fault("bad_lead", mode=mode)


def repeat_cursor() -> Fault:
    """``next_cursor`` equals the request's own cursor: a client that trusts it loops forever.

    A request without a cursor is served unchanged, so arm it with ``after=1`` or later.
    """
    return Fault("repeat_cursor")


def callback(fn: Callable[[Any], object]) -> Fault:
    """Run ``fn(store)`` before the request is served (e.g. edit data between two pages)."""
    return Fault("callback", fn=fn)


@dataclass
class _Entry:
    fault: Fault
    times: int | None
    path: str
    method: str
    after: int


class FaultPlan:
    """Ordered, thread-safe list of armed faults.

    Every entry matching a request's method and path counts that request against its own
    ``after``; the first entry whose ``after`` is spent fires and uses one of its ``times``
    (``None`` = forever).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []

    def add(
        self,
        fault: Fault,
        times: int | None = 1,
        path: str = LEADS_PATH,
        method: str = "GET",
        after: int = 0,
    ) -> None:
        with self._lock:
            self._entries.append(_Entry(fault, times, path, method.upper(), after))

    def take(self, method: str, path: str) -> Fault | None:
        fired: Fault | None = None
        with self._lock:
            for entry in self._entries:
                if entry.method != method or entry.path != path:
                    continue
                if entry.after > 0:
                    entry.after -= 1
                elif fired is None:
                    fired = entry.fault
                    if entry.times is not None:
                        entry.times -= 1
            self._entries = [e for e in self._entries if e.times is None or e.times > 0]
        return fired

    def pending(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def apply_body_fault(fault: Fault, body: bytes, request_cursor: str | None) -> bytes:
    """Rewrite a 200 list/create body for the ``BODY_KINDS`` faults."""
    doc = orjson.loads(body)
    if fault.kind == "missing_key" and fault.key is not None:
        doc.pop(fault.key, None)
    elif fault.kind == "repeat_cursor":
        if request_cursor is not None:
            doc["next_cursor"] = request_cursor
    elif fault.kind == "bad_lead":
        leads = doc.get("leads") or ([doc["lead"]] if isinstance(doc.get("lead"), dict) else [])
        if leads:
            lead = leads[0]
            if fault.mode == "no_id":
                lead.pop("id", None)
            elif fault.mode == "no_updated_at":
                lead.pop("updated_at", None)
            else:
                lead["id"] = 12345
                lead["updated_at"] = 1767225600000
                lead["score"] = "ninety"
                lead["qualified"] = "yes"
                lead["custom_fields"] = ["not", "a", "map"]
    out: bytes = orjson.dumps(doc)
    return out
