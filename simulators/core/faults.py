"""Fault injection: make a simulator misbehave the ways real APIs and networks do.

Usage::

    server.faults.add(faults.status(503, retry_after=2), times=2)
    server.faults.add(faults.truncate(), after=3)  # the 4th matching request is cut short
    server.faults.add(faults.status(404), path="/api/v1/leads/{id}")  # any one lead
    server.faults.add(faults.commit_then_drop(), method="POST")  # created, never answered

The faults here fit any API; an API adds a default path and its own body faults, rewriting
a JSON body with :func:`rewrite_json` (``missing_key`` is the same everywhere; ``bad_lead``'s
modes and how a lead is corrupted are the API's).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

# Faults that replace the response before the request is processed at all.
PRE_KINDS = frozenset({"status", "rate_limited", "drop", "html_200", "non_json_200"})


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


def commit_then_drop() -> Fault:
    """Process the request normally (a create or update is committed), then close the
    connection without a byte of response: the client cannot tell whether it happened."""
    return Fault("commit_then_drop")


def callback(fn: Callable[[Any], object]) -> Fault:
    """Run ``fn(store)`` before the request is served (e.g. edit data between two pages)."""
    return Fault("callback", fn=fn)


# ----- body faults: the API rewrites a normally computed 200/201 body ---------------------


def missing_key(key: str) -> Fault:
    """A normal body with a top-level key removed."""
    return Fault("missing_key", key=key)


def bad_lead(mode: str, modes: Sequence[str]) -> Fault:
    """Corrupt the first lead of a normal body the way ``mode``, one of the API's ``modes``,
    says (the API's ``rewrite_body`` knows how)."""
    if mode not in modes:
        raise ValueError(f"mode must be one of {modes}")
    return Fault("bad_lead", mode=mode)


def edit_lead(fn: Callable[[Any], object]) -> Fault:
    """The first lead of a normal body passed through ``fn``, which edits it in place (a test's
    own corruption, e.g. a timestamp no client parses): a ``bad_lead`` every API applies."""
    return Fault("bad_lead", mode="edit", fn=fn)


# The body faults a list page meets in the contract tests (``tests/contract``).
LIST_BODY_KINDS = frozenset({"missing_key", "bad_lead"})


def rewrite_list(fault: Fault, body: bytes, items_key: str) -> bytes:
    """A list page's body with ``missing_key`` or ``edit_lead`` applied (its leads under
    ``items_key``): for an API with no body faults of its own."""

    def edit(fault: Fault, doc: Any) -> Any:
        leads = doc.get(items_key) if isinstance(doc, dict) else None
        if fault.fn is not None and isinstance(leads, list) and leads:
            fault.fn(leads[0])
        return doc

    return rewrite_json(fault, body, edit)


def rewrite_json(fault: Fault, body: bytes, rewrite: Callable[[Fault, Any], Any]) -> bytes:
    """``body`` with a body fault applied: ``missing_key`` drops its key from a top-level
    object here; any other kind is what ``rewrite(fault, document)`` returns."""
    doc = orjson.loads(body)
    if fault.kind == "missing_key":
        if fault.key is not None and isinstance(doc, dict):
            doc.pop(fault.key, None)
    else:
        doc = rewrite(fault, doc)
    out: bytes = orjson.dumps(doc)
    return out


# ----- the plan --------------------------------------------------------------------------


@dataclass
class _Entry:
    fault: Fault
    times: int | None
    path: str
    method: str
    after: int


def path_matches(pattern: str, path: str) -> bool:
    """``pattern`` is a literal path, or has ``{name}`` segments that each match one non-empty
    path segment (``/api/v1/leads/{id}`` matches every single-lead path, not the list)."""
    if "{" not in pattern:
        return pattern == path
    want, got = pattern.split("/"), path.split("/")
    if len(want) != len(got):
        return False
    for w, g in zip(want, got, strict=True):
        if w.startswith("{") and w.endswith("}"):
            if not g:
                return False
        elif w != g:
            return False
    return True


class FaultPlan:
    """Ordered, thread-safe list of armed faults.

    Every entry matching a request's method (``"*"``: any) and path (see :func:`path_matches`)
    counts that request against its own ``after``; the first entry whose ``after`` is spent
    fires and uses one of its ``times`` (``None`` = forever). An API's plan sets
    ``default_path`` to its main endpoint.
    """

    default_path = "/"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []

    def add(
        self,
        fault: Fault,
        times: int | None = 1,
        path: str | None = None,
        method: str = "GET",
        after: int = 0,
    ) -> None:
        path = self.default_path if path is None else path
        entry = _Entry(fault, times, path, method.upper(), after)
        with self._lock:
            self._entries.append(entry)

    def take(self, method: str, path: str) -> Fault | None:
        fired: Fault | None = None
        with self._lock:
            for entry in self._entries:
                if entry.method not in (method, "*") or not path_matches(entry.path, path):
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
