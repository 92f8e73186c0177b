"""Thread-safe in-memory Leads v1 store: every organization's leads, each organization's
keyset index, and the org-scoped reads and writes the API serves.

Leads are full records (``DETAIL_FIELDS`` order) keyed by id. Each organization has a sorted
list of ``(created_at, id)``: a page is a bisect to the cursor or ``start_at`` and a forward
scan, so rows sharing a created_at are ordered by id and never skipped or repeated.
"""

from __future__ import annotations

import random
import threading
import uuid
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from simulators.core.clock import format_ts

from .clock import Clock, SystemClock, is_api_ts, later_than
from .errors import not_found
from .query import ListQuery, encode_cursor
from .schema import (
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_STAGE,
    DETAIL_FIELDS,
    LIST_FIELDS,
    STAGES,
    Lead,
    project,
)
from .validation import validate_fields

Key = tuple[str, str]  # (created_at, id)
# Fields only the simulator (store.create / store.update) may set, never the API's clients.
SYSTEM_FIELDS = ("id", "created_at", "updated_at", "qualification_completed_at")


def _timestamp(name: str, value: Any) -> str:
    if isinstance(value, datetime):
        return format_ts(value)
    if not is_api_ts(value):
        raise ValueError(f"{name} must be a datetime or a string like 2026-04-27T13:22:05.114Z")
    return str(value)


class LeadsV1Store:
    """All organizations' leads. Every public method takes the one lock.

    Methods without ``organization_id`` act on ``self.organization_id`` (the default org);
    ``get``/``update``/``delete`` take any lead id. Records returned are copies.
    """

    def __init__(
        self, clock: Clock | None = None, organization_id: str = DEFAULT_ORGANIZATION_ID
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.organization_id = organization_id
        self._lock = threading.Lock()
        self._leads: dict[str, Lead] = {}
        self._index: dict[str, list[Key]] = {}
        self.version = 0

    def __len__(self) -> int:
        """Leads of the default organization."""
        with self._lock:
            return len(self._index.get(self.organization_id, ()))

    # ----- loading and in-process reads ----------------------------------------------------

    def add_many(self, leads: Iterable[Lead]) -> int:
        """Insert full records as they are (``generate_leads`` output); ids must be new."""
        with self._lock:
            touched: set[str] = set()
            added = 0
            for lead in leads:
                if lead["id"] in self._leads:
                    raise ValueError(f"duplicate lead id {lead['id']}")
                record = {name: lead[name] for name in DETAIL_FIELDS}
                self._leads[record["id"]] = record
                org = record["organization_id"]
                self._index.setdefault(org, []).append((record["created_at"], record["id"]))
                touched.add(org)
                added += 1
            for org in touched:
                self._index[org].sort()  # Timsort: linear on the sorted prefix
            self.version += 1
            return added

    def get(self, lead_id: str) -> Lead | None:
        """Any organization's lead, or None."""
        with self._lock:
            lead = self._leads.get(lead_id)
            return dict(lead) if lead is not None else None

    def leads(self, organization_id: str | None = None) -> list[Lead]:
        """Full records of one organization (default: the default org), in (created_at, id)
        order: the order GET /api/v1/leads pages through."""
        org = organization_id or self.organization_id
        with self._lock:
            return [dict(self._leads[key[1]]) for key in self._index.get(org, ())]

    # ----- in-process writes (tests) -------------------------------------------------------

    def create(self, organization_id: str | None = None, **fields: Any) -> Lead:
        """Create a lead like POST does, without the POST-only email/name+company rule.

        Writable fields are validated as in the API (``ApiError`` 422). Tests may also set
        ``id``, ``created_at``, ``updated_at``, ``qualification_completed_at`` (datetime or
        rendered string), e.g. to build created_at ties; by default both timestamps are now.
        """
        system = {name: fields.pop(name) for name in SYSTEM_FIELDS if name in fields}
        clean = validate_fields(fields)
        for name in ("created_at", "updated_at", "qualification_completed_at"):
            if system.get(name) is not None:
                system[name] = _timestamp(name, system[name])
        return self._insert(organization_id or self.organization_id, clean, system)

    def update(self, lead_id: str, **fields: Any) -> Lead:
        """Change fields like PATCH (plus ``qualification_completed_at``); moves updated_at
        strictly forward. KeyError for an unknown id."""
        qualified = "qualification_completed_at" in fields
        stamp = fields.pop("qualification_completed_at", None)
        clean = validate_fields(fields)
        if qualified:
            clean["qualification_completed_at"] = (
                None if stamp is None else _timestamp("qualification_completed_at", stamp)
            )
        with self._lock:
            return dict(self._apply(self._leads[lead_id], clean))

    def delete(self, lead_id: str) -> bool:
        """Hard delete; False when there was no such lead. GET then answers 404."""
        with self._lock:
            lead = self._leads.pop(lead_id, None)
            if lead is None:
                return False
            index = self._index[lead["organization_id"]]
            del index[bisect_left(index, (lead["created_at"], lead_id))]
            self.version += 1
            return True

    def touch(self, n: int, seed: int = 0) -> list[str]:
        """Edit ``n`` random leads of the default org (stage, score) as users do; their ids."""
        if n < 0:
            raise ValueError("n must not be negative")
        rng = random.Random(seed)
        with self._lock:
            keys = self._index.get(self.organization_id, [])
            ids = [key[1] for key in rng.sample(keys, min(n, len(keys)))]
            for lead_id in ids:
                edit = {"pipeline_stage": rng.choice(STAGES), "lead_score": rng.randrange(101)}
                self._apply(self._leads[lead_id], edit)
            return ids

    # ----- the API's org-scoped operations (raise ApiError) --------------------------------

    def page(self, organization_id: str, q: ListQuery) -> tuple[list[Lead], str | None]:
        """One page of list rows and the next cursor (None when nothing follows)."""
        with self._lock:
            index = self._index.get(organization_id, [])
            pos = bisect_left(index, (q.start_at,)) if q.start_at else 0
            if q.cursor is not None:
                pos = max(pos, bisect_right(index, q.cursor))  # strictly after (created_at, id)
            rows: list[Lead] = []
            more = False
            for i in range(pos, len(index)):
                created_at, lead_id = index[i]
                if q.end_at is not None and created_at >= q.end_at:
                    break
                lead = self._leads[lead_id]
                if q.pipeline_stage is not None and lead["pipeline_stage"] != q.pipeline_stage:
                    continue
                if q.source is not None and lead["source"] != q.source:
                    continue
                if len(rows) == q.limit:
                    more = True  # a further matching row exists: a full page is not the end
                    break
                rows.append(project(lead, LIST_FIELDS))
        cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None
        return rows, cursor

    def get_for(self, organization_id: str, lead_id: str) -> Lead:
        """The tenant's lead; 404 for unknown, deleted or another organization's leads (the
        doc: "returns 404 if the lead belongs to a different organization")."""
        with self._lock:
            return dict(self._scoped(organization_id, lead_id))

    def create_for(self, organization_id: str, clean: dict[str, Any]) -> Lead:
        return self._insert(organization_id, clean, {})

    def patch_for(self, organization_id: str, lead_id: str, clean: dict[str, Any]) -> Lead:
        with self._lock:
            return dict(self._apply(self._scoped(organization_id, lead_id), clean))

    # ----- internals -----------------------------------------------------------------------

    def _scoped(self, organization_id: str, lead_id: str) -> Lead:
        lead = self._leads.get(lead_id)
        if lead is None or lead["organization_id"] != organization_id:
            raise not_found()
        return lead

    def _insert(self, organization_id: str, clean: dict[str, Any], system: dict[str, Any]) -> Lead:
        lead: Lead = dict.fromkeys(DETAIL_FIELDS)
        lead.update(lead_score=0, pipeline_stage=DEFAULT_STAGE)
        lead.update(clean)
        lead["organization_id"] = organization_id
        with self._lock:
            lead_id = str(system.get("id") or uuid.uuid4())
            if lead_id in self._leads:
                raise ValueError(f"duplicate lead id {lead_id}")
            created = system.get("created_at") or format_ts(self.clock.now())
            updated = system.get("updated_at") or created
            if updated < created:
                raise ValueError("updated_at must not be before created_at")
            lead.update(id=lead_id, created_at=created, updated_at=updated)
            lead["qualification_completed_at"] = system.get("qualification_completed_at")
            self._leads[lead_id] = lead
            insort(self._index.setdefault(organization_id, []), (created, lead_id))
            self.version += 1
            return dict(lead)

    def _apply(self, lead: Lead, changes: dict[str, Any]) -> Lead:
        """Lock held. Every write moves updated_at forward, even when values are unchanged
        (as a Postgres ``updated_at`` trigger does)."""
        lead.update(changes)
        lead["updated_at"] = later_than(lead["updated_at"], self.clock.now())
        self.version += 1
        return lead
