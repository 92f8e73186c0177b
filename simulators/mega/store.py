"""Thread-safe in-memory lead store with keyset indexes and cached per-lead JSON."""

from __future__ import annotations

import gc
import random
import threading
import uuid
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson

from simulators.core.clock import format_ts

from .clock import Clock, SystemClock
from .data import DEFAULT_CUSTOMER_ID, STAGES, STATUSES, random_custom_field
from .listing import Entry, Rec, render, select
from .query import ListQuery, parse_list_params, phone_digits
from .validation import UPDATABLE, is_scalar, validate_create, validate_custom_fields

Lead = dict[str, Any]
_MAX_CACHED_VIEWS = 16
_BULK_REINDEX = 64


def copy_lead(lead: Lead) -> Lead:
    out = dict(lead)
    out["custom_fields"] = dict(lead["custom_fields"])
    if out.get("current_stage") is not None:
        out["current_stage"] = dict(out["current_stage"])
    if out.get("owner") is not None:
        out["owner"] = dict(out["owner"])
    return out


def _email_key(email: str | None) -> str | None:
    return email.strip().lower() if email else None


def _phone_key(phone: str | None) -> str | None:
    # Merge rule of the API: phones are the same contact when their last 10 digits agree.
    digits = phone_digits(phone) if phone else ""
    return digits[-10:] if len(digits) >= 10 else None


class LeadStore:
    """One customer's leads. Every public method takes the single lock.

    Leads are kept as API-shaped dicts (``custom_fields`` always present and last). Sorted
    lists of ``(created_at, id, rec)`` and ``(updated_at, id, rec)`` give O(log n + page)
    keyset paging (fixed-width ISO strings sort chronologically); each lead's JSON is rendered
    once per version and a page body is the join of those bytes.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        customer_id: str = DEFAULT_CUSTOMER_ID,
        stages: Iterable[Lead] = STAGES,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.customer_id = customer_id
        self.stages: tuple[Lead, ...] = tuple(stages)
        self._stage_by_slug = {s["slug"]: s for s in self.stages}
        self._lock = threading.Lock()
        self._recs: dict[str, Rec] = {}
        self._by_created: list[Entry] = []
        self._by_updated: list[Entry] = []
        self.version = 0
        self._views: dict[tuple[Any, ...], list[Any]] = {}
        self._views_version = -1
        self._emails: dict[str, Rec] | None = None
        self._phones: dict[str, Rec] | None = None

    def __len__(self) -> int:
        return len(self._recs)

    # ----- loading and reading -------------------------------------------------------------

    def add_many(self, leads: Iterable[Lead]) -> int:
        """Insert API-shaped leads as they are (the store takes ownership of the dicts)."""
        # Millions of new container objects would trigger repeated full GC passes (seconds).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            with self._lock:
                added = self._add_many(leads)
        finally:
            if gc_was_enabled:
                gc.enable()
        return added

    def _add_many(self, leads: Iterable[Lead]) -> int:
        recs = self._recs
        new_created: list[Entry] = []
        new_updated: list[Entry] = []
        for lead in leads:
            lead_id = lead["id"]
            if lead_id in recs:
                raise ValueError(f"duplicate lead id {lead_id}")
            if next(reversed(lead)) != "custom_fields":
                lead["custom_fields"] = lead.pop("custom_fields", None) or {}
            rec = recs[lead_id] = Rec(lead)
            new_created.append((lead["created_at"], lead_id, rec))
            new_updated.append((lead["updated_at"], lead_id, rec))
            self._index_contact(rec)
        # Timsort is linear on the already-sorted existing prefix.
        self._by_created.extend(new_created)
        self._by_created.sort()
        self._by_updated.extend(new_updated)
        self._by_updated.sort()
        self.version += 1
        return len(new_created)

    def get(self, lead_id: str) -> Lead | None:
        with self._lock:
            rec = self._recs.get(lead_id)
            return copy_lead(rec.lead) if rec is not None else None

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._recs)

    def snapshot(self) -> list[Lead]:
        """Deep copies of every lead with ``custom_fields``, in (created_at, id) order."""
        with self._lock:
            return [copy_lead(entry[2].lead) for entry in self._by_created]

    def stage(self, slug: str) -> Lead | None:
        return self._stage_by_slug.get(slug)

    # ----- mutations ---------------------------------------------------------------------

    def update(self, lead_id: str, **fields: Any) -> Lead:
        """Change fields (``stage_slug`` is accepted for ``current_stage``); bumps updated_at."""
        if "stage_slug" in fields:
            slug = fields.pop("stage_slug")
            stage = self._stage_by_slug.get(slug) if slug is not None else None
            if slug is not None and stage is None:
                raise ValueError(f"unknown stage slug {slug!r}")
            fields["current_stage"] = stage
        for name, value in fields.items():
            if name not in UPDATABLE:
                raise ValueError(f"field {name!r} cannot be updated")
            if isinstance(value, datetime):
                fields[name] = value = format_ts(value)
            if not isinstance(value, UPDATABLE[name]):
                raise TypeError(f"bad type for {name}: {type(value).__name__}")
        if "custom_fields" in fields:
            fields["custom_fields"] = validate_custom_fields(fields["custom_fields"])
        with self._lock:
            rec = self._recs[lead_id]
            self._unindex_contact(rec)
            for name, value in fields.items():
                rec.lead[name] = dict(value) if isinstance(value, dict) else value
            self._index_contact(rec)
            self._bump([rec])
            return copy_lead(rec.lead)

    def set_custom_field(self, lead_id: str, slug: str, value: Any) -> Lead:
        if not is_scalar(value):
            raise TypeError("custom field values must be scalars")
        with self._lock:
            rec = self._recs[lead_id]
            rec.lead["custom_fields"] = {**rec.lead["custom_fields"], slug: value}
            self._bump([rec])
            return copy_lead(rec.lead)

    def remove_custom_field(self, lead_id: str, slug: str) -> bool:
        """Drop a custom field; False (and no version bump) when it was not set."""
        with self._lock:
            rec = self._recs[lead_id]
            if slug not in rec.lead["custom_fields"]:
                return False
            cf = dict(rec.lead["custom_fields"])
            del cf[slug]
            rec.lead["custom_fields"] = cf
            self._bump([rec])
            return True

    def delete(self, lead_id: str) -> bool:
        """Hard delete: the API has no tombstones, the lead just stops being listed."""
        with self._lock:
            rec = self._recs.pop(lead_id, None)
            if rec is None:
                return False
            self._unindex_contact(rec)
            self._remove_entries(self._by_created, [(rec.lead["created_at"], lead_id)])
            self._remove_entries(self._by_updated, [(rec.lead["updated_at"], lead_id)])
            self.version += 1
            return True

    def touch(self, n: int, seed: int = 0) -> list[str]:
        """Edit ``n`` random leads the way users do (status, stage, score, an interaction, a
        custom field) and bump their updated_at; returns their ids."""
        rng = random.Random(seed)
        with self._lock:
            ids = rng.sample(list(self._recs), min(n, len(self._recs)))
            recs = [self._recs[lead_id] for lead_id in ids]
            for rec in recs:
                for action in rng.sample(range(6), 1 + rng.randrange(3)):
                    self._random_edit(rec.lead, action, rng)
            self._bump(recs)
        return ids

    def _random_edit(self, lead: Lead, action: int, rng: random.Random) -> None:
        if action == 0:
            lead["status"] = rng.choice(STATUSES)
        elif action == 1:
            lead["current_stage"] = rng.choice((None, *self.stages))
        elif action == 2:
            lead["score"] = rng.choice((None, rng.randrange(101)))
        elif action == 3:
            lead["interaction_count"] += 1
            lead["last_interaction_at"] = format_ts(self.clock.now())
        elif action == 4:
            slug, value = random_custom_field(rng)
            lead["custom_fields"] = {**lead["custom_fields"], slug: value}
        elif lead["custom_fields"]:
            cf = dict(lead["custom_fields"])
            del cf[rng.choice(sorted(cf))]
            lead["custom_fields"] = cf

    def create_or_merge(self, payload: Mapping[str, Any]) -> tuple[Lead, bool]:
        """POST semantics: merge into the lead with the same email (case-insensitive) or, failing
        that, the same last-10 phone digits; otherwise create. Returns (lead, created)."""
        clean = validate_create(dict(payload), self._stage_by_slug)
        slug = clean.pop("stage_slug", None)
        custom_fields = clean.pop("custom_fields", None)
        with self._lock:
            self._ensure_contact_index()
            assert self._emails is not None and self._phones is not None
            match = self._emails.get(_email_key(clean.get("contact_email")) or "")
            if match is None:
                match = self._phones.get(_phone_key(clean.get("contact_phone")) or "")
            if match is not None:
                lead = match.lead
                self._unindex_contact(match)
                lead.update(clean)
                if slug is not None:
                    lead["current_stage"] = self._stage_by_slug[slug]
                if custom_fields:
                    lead["custom_fields"] = {**lead["custom_fields"], **custom_fields}
                self._index_contact(match)
                self._bump([match])
                return copy_lead(lead), False
            now = format_ts(self.clock.now())
            lead = {
                "id": str(uuid.uuid4()),
                "customer_id": self.customer_id,
                "contact_name": clean.get("contact_name"),
                "contact_phone": clean.get("contact_phone"),
                "contact_email": clean.get("contact_email"),
                "source_platform": clean.get("source_platform", "direct"),
                "source_type": clean.get("source_type", "manual"),
                "status": "active",
                "score": None,
                "qualified": None,
                "current_stage": self._stage_by_slug[slug] if slug else self.stages[0],
                "owner": None,
                "last_interaction_at": None,
                "interaction_count": 0,
                "created_at": now,
                "updated_at": now,
                "custom_fields": custom_fields or {},
            }
            rec = self._recs[lead["id"]] = Rec(lead)
            insort(self._by_created, (now, lead["id"], rec))
            insort(self._by_updated, (now, lead["id"], rec))
            self._index_contact(rec)
            self.version += 1
            return copy_lead(lead), True

    # ----- internals (lock held) ---------------------------------------------------------

    def _bump(self, recs: list[Rec]) -> None:
        old = [(rec.lead["updated_at"], rec.lead["id"]) for rec in recs]
        new: list[Entry] = []
        for rec in recs:
            rec.changed()
            updated = rec.lead["updated_at"] = format_ts(self.clock.now())
            new.append((updated, rec.lead["id"], rec))
        self._remove_entries(self._by_updated, old)
        index = self._by_updated
        if len(new) > _BULK_REINDEX:
            index.extend(new)
            index.sort()  # runs of sorted data: Timsort merges them in ~linear time
        else:
            for entry in new:
                insort(index, entry)
        self.version += 1

    @staticmethod
    def _remove_entries(index: list[Entry], keys: list[tuple[str, str]]) -> None:
        if len(keys) > _BULK_REINDEX:
            # One linear rebuild beats k memmoves of an n-long list.
            doomed = set(keys)
            index[:] = [e for e in index if (e[0], e[1]) not in doomed]
            return
        for key in keys:
            pos = bisect_left(index, key)
            if pos < len(index) and index[pos][1] == key[1]:
                del index[pos]

    def _ensure_contact_index(self) -> None:
        # Built on the first POST only: a read-only 1M-lead benchmark never pays for it.
        if self._emails is None:
            self._emails, self._phones = {}, {}
            for rec in self._recs.values():
                self._index_contact(rec)

    def _index_contact(self, rec: Rec) -> None:
        if self._emails is None or self._phones is None:
            return
        email = _email_key(rec.lead.get("contact_email"))
        if email:
            self._emails.setdefault(email, rec)
        phone = _phone_key(rec.lead.get("contact_phone"))
        if phone:
            self._phones.setdefault(phone, rec)

    def _unindex_contact(self, rec: Rec) -> None:
        if self._emails is None or self._phones is None:
            return
        email = _email_key(rec.lead.get("contact_email"))
        if email and self._emails.get(email) is rec:
            del self._emails[email]
        phone = _phone_key(rec.lead.get("contact_phone"))
        if phone and self._phones.get(phone) is rec:
            del self._phones[phone]

    # ----- listing -------------------------------------------------------------------------

    def query(self, params: Mapping[str, str]) -> dict[str, Any]:
        """GET /api/agents/crm/leads semantics, decoded (raises ApiError on bad params)."""
        result: dict[str, Any] = orjson.loads(self.query_bytes(params))
        return result

    def query_bytes(self, params: Mapping[str, str]) -> bytes:
        """The exact response body the API would send for these query parameters."""
        return self.render(parse_list_params(params))

    def render(self, q: ListQuery) -> bytes:
        with self._lock:
            recs, total, next_cursor = select(
                q, self._by_created, self._by_updated, lambda: list(self._recs.values()), self._view
            )
            return render(recs, total, q, next_cursor)

    def _view(self, key: tuple[Any, ...], build: Callable[[], list[Any]]) -> list[Any]:
        # Filtered/sorted views cost O(n) to build, so they are kept until the next mutation:
        # paging through a filtered result then costs a bisect per page, not a scan.
        if self._views_version != self.version:
            self._views.clear()
            self._views_version = self.version
        view = self._views.get(key)
        if view is None:
            if len(self._views) >= _MAX_CACHED_VIEWS:
                self._views.pop(next(iter(self._views)))
            view = self._views[key] = build()
        return view
