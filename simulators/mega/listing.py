"""The list semantics of GET /api/agents/crm/leads over the store's sorted indexes.

An index is a list of ``(timestamp, id, Rec)`` sorted on the first two items (ids are unique,
so the ``Rec`` is never compared). Keyset order is (sort field, id); a page is a bisect plus a
slice, and its body is the join of per-lead JSON rendered once per lead version.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Any

import orjson

from .query import Filters, ListQuery, encode_cursor, phone_digits, search_term

Lead = dict[str, Any]
CF_MARK = b',"custom_fields":'


class Rec:
    """A lead plus what is derived from it and dropped whenever it changes."""

    __slots__ = ("digits", "json", "lead")

    def __init__(self, lead: Lead) -> None:
        self.lead = lead
        self.json: bytes | None = None
        self.digits: str | None = None

    def changed(self) -> None:
        self.json = None
        self.digits = None

    def body(self) -> bytes:
        """The lead's JSON with ``custom_fields`` (always the last key)."""
        body = self.json
        if body is None:
            # orjson returns bytes with KBs of spare capacity; an exact copy keeps a fully
            # cached 1M-lead store near 1 GB instead of ~8 GB.
            body = self.json = memoryview(orjson.dumps(self.lead)).tobytes()
        return body

    def phone_digits(self) -> str:
        digits = self.digits
        if digits is None:
            phone = self.lead["contact_phone"]
            digits = self.digits = phone_digits(phone) if phone else ""
        return digits


Entry = tuple[str, str, Rec]
ViewCache = Callable[[tuple[Any, ...], Callable[[], list[Any]]], list[Any]]


def after(index: list[Entry], value: str, lead_id: str) -> int:
    """Position of the first entry strictly after (value, id)."""
    # A probe of id + NUL sorts after (value, id, rec) and before every larger (value, id2).
    return bisect_left(index, (value, lead_id + "\x00"))


def matcher(f: Filters) -> Callable[[Rec], bool]:
    term = search_term(f.search) if f.search else None

    def match(rec: Rec) -> bool:
        lead = rec.lead
        if f.status is not None and lead["status"] != f.status:
            return False
        if f.stage_id is not None:
            stage = lead["current_stage"]
            if stage is None or stage["id"].lower() != f.stage_id:
                return False
        if f.lead_line is not None and lead["custom_fields"].get("lead_line") != f.lead_line:
            return False
        if f.created_since is not None and lead["created_at"] < f.created_since:
            return False
        if f.updated_since is not None and lead["updated_at"] < f.updated_since:
            return False
        if term is not None:
            name = lead["contact_name"]
            email = lead["contact_email"]
            if not (
                (name is not None and term.text in name.lower())
                or (email is not None and term.text in email.lower())
                or (term.digits is not None and term.digits in rec.phone_digits())
            ):
                return False
        return True

    return match


def lia_order(recs: list[Rec], f: Filters) -> list[Rec]:
    """Matching leads by (last_interaction_at, id); nulls last ascending, like PostgreSQL."""
    match = matcher(f)
    present: list[Entry] = []
    missing: list[tuple[str, Rec]] = []
    for rec in recs:
        if match(rec):
            lia = rec.lead["last_interaction_at"]
            if lia is None:
                missing.append((rec.lead["id"], rec))
            else:
                present.append((lia, rec.lead["id"], rec))
    present.sort(key=lambda e: (e[0], e[1]))
    missing.sort(key=lambda e: e[0])
    return [e[2] for e in present] + [e[1] for e in missing]


def select(
    q: ListQuery,
    by_created: list[Entry],
    by_updated: list[Entry],
    all_recs: Callable[[], list[Rec]],
    view: ViewCache,
) -> tuple[list[Rec], int, str | None]:
    """(page of leads, total matching, next_cursor) for a validated query."""
    f = q.filters
    if q.sort_by == "last_interaction_at":
        ordered: list[Rec] = view(("lia", f), lambda: lia_order(all_recs(), f))
        total = len(ordered)
        if q.sort_dir == "asc":
            page = ordered[q.offset : q.offset + q.limit]
        else:
            end = max(total - q.offset, 0)
            page = ordered[max(end - q.limit, 0) : end][::-1]
        return page, total, None  # cursor paging is for created_at/updated_at only
    on_updated = q.sort_by == "updated_at"
    on_sort = f.updated_since if on_updated else f.created_since
    # The since-filter on the sort field is a bisect; everything else filters a cached view.
    residual = Filters(
        f.status,
        f.stage_id,
        f.search,
        f.created_since if on_updated else None,
        None if on_updated else f.updated_since,
        f.lead_line,
    )
    index = by_updated if on_updated else by_created
    if residual != Filters():
        base, match = index, matcher(residual)
        index = view((q.sort_by, residual), lambda: [e for e in base if match(e[2])])
    lo = bisect_left(index, (on_sort,)) if on_sort else 0
    hi = len(index)
    total = hi - lo
    if q.cursor is not None:
        if q.sort_dir == "asc":
            lo = max(lo, after(index, *q.cursor))
        else:
            hi = min(hi, bisect_left(index, q.cursor))
    if q.sort_dir == "asc":
        start = lo + q.offset
        entries = index[start : start + q.limit]
        more = start + q.limit < hi
    else:
        end = hi - q.offset
        start = max(lo, end - q.limit)
        entries = index[start:end][::-1] if end > lo else []
        more = start > lo
    next_cursor = None
    if more and entries:
        next_cursor = encode_cursor(q.sort_by, q.sort_dir, entries[-1][0], entries[-1][1])
    return [e[2] for e in entries], total, next_cursor


def render(recs: list[Rec], total: int, q: ListQuery, next_cursor: str | None) -> bytes:
    bodies = [rec.body() for rec in recs]
    if not q.include_custom_fields:
        bodies = [body[: body.find(CF_MARK)] + b"}" for body in bodies]
    cursor = b"null" if next_cursor is None else b'"' + next_cursor.encode() + b'"'
    return b"".join(
        (
            b'{"leads":[',
            b",".join(bodies),
            b'],"total":%d,"limit":%d,"offset":%d,"next_cursor":' % (total, q.limit, q.offset),
            cursor,
            b"}",
        )
    )
