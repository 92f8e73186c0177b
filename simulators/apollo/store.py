"""Thread-safe in-memory Apollo store: each organization's pipelines and leads.

Leads are kept as the doc's ``Lead`` objects (the 201 body), keyed by id, with each
organization's ids in creation order and an index of its e-mail addresses. A create checks
the pipeline and the e-mail and inserts under one lock, so two concurrent creates of the same
address cannot both succeed.

ASSUMPTION behind ``duplicate_lead``: the doc's only 409 is "Conflito (duplicate, race
condition)" without a rule; here a lead whose e-mail (compared case-insensitively) already
belongs to a lead of the same organization is the duplicate. Leads without an e-mail never
conflict.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from simulators.core.clock import Clock, SystemClock, format_ts

from .errors import ApiError
from .schema import DEFAULT_ORGANIZATION_ID, LEAD_FIELDS, PIPELINES, Lead, Pipeline
from .validation import is_uuid, validate_create


class ApolloStore:
    """All organizations' pipelines and leads. Every public method takes the one lock.

    Methods without ``organization_id`` act on the default organization; records returned
    are copies.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.organization_id = DEFAULT_ORGANIZATION_ID
        self._lock = threading.Lock()
        self._leads: dict[str, Lead] = {}
        self._order: dict[str, list[str]] = {}  # organization -> lead ids, creation order
        self._emails: dict[tuple[str, str], str] = {}  # (organization, casefolded) -> lead id
        self._pipelines: dict[str, dict[str, Pipeline]] = {}  # organization -> id -> pipeline
        for organization_id, pipeline in PIPELINES:
            self.add_pipeline(
                organization_id, pipeline["name"], pipeline["default_stage"], pipeline["id"]
            )

    def __len__(self) -> int:
        """Leads of the default organization."""
        with self._lock:
            return len(self._order.get(self.organization_id, ()))

    # ----- in-process reads and set-up (tests) -------------------------------------------

    def leads(self, organization_id: str | None = None) -> list[Lead]:
        """One organization's leads (default: the default org), in creation order."""
        org = (organization_id or self.organization_id).lower()
        with self._lock:
            return [_copy(self._leads[lead_id]) for lead_id in self._order.get(org, ())]

    def get(self, lead_id: str) -> Lead | None:
        """Any organization's lead, or None."""
        with self._lock:
            lead = self._leads.get(lead_id)
            return _copy(lead) if lead is not None else None

    def pipelines(self, organization_id: str | None = None) -> list[Pipeline]:
        """``{"id", "name", "default_stage"}`` of each pipeline of one organization."""
        org = (organization_id or self.organization_id).lower()
        with self._lock:
            return [dict(p) for p in self._pipelines.get(org, {}).values()]

    def add_pipeline(
        self,
        organization_id: str,
        name: str,
        default_stage: str,
        pipeline_id: str | None = None,
    ) -> Pipeline:
        """A new pipeline of ``organization_id`` (e.g. a third organization's first one)."""
        pipeline_id = (pipeline_id or str(uuid.uuid4())).lower()
        if not is_uuid(pipeline_id) or not is_uuid(organization_id):
            raise ValueError("organization and pipeline ids must be UUIDs")
        pipeline = {"id": pipeline_id, "name": name, "default_stage": default_stage}
        with self._lock:
            if any(pipeline_id in pipes for pipes in self._pipelines.values()):
                raise ValueError(f"duplicate pipeline id {pipeline_id}")
            self._pipelines.setdefault(organization_id.lower(), {})[pipeline_id] = pipeline
            return dict(pipeline)

    def create(self, organization_id: str | None = None, **fields: Any) -> Lead:
        """Create a lead as POST does (same validation, pipeline and duplicate checks: an
        ``ApiError`` otherwise), e.g. a lead already in the CRM before a connector run."""
        org = organization_id or self.organization_id
        return self.create_for(org.lower(), validate_create(fields))

    # ----- the API's write ----------------------------------------------------------------

    def create_for(self, organization_id: str, clean: dict[str, Any]) -> Lead:
        """Insert a validated create of ``organization_id``: 400 ``pipeline_not_found`` for a
        pipeline that is not the organization's, 409 ``duplicate_lead`` for a known e-mail."""
        with self._lock:
            pipeline = self._pipelines.get(organization_id, {}).get(clean["pipeline_id"])
            if pipeline is None:
                raise ApiError(
                    400, "pipeline_id is not a pipeline of this organization.", "pipeline_not_found"
                )
            email = clean.get("email")
            email_key = (organization_id, email.casefold()) if email else None
            if email_key is not None and email_key in self._emails:
                raise ApiError(
                    409,
                    f"A lead with this email already exists: {self._emails[email_key]}.",
                    "duplicate_lead",
                )
            now = format_ts(self.clock.now())
            lead: Lead = dict.fromkeys(LEAD_FIELDS)
            lead.update(clean)
            lead.update(id=str(uuid.uuid4()), stage=pipeline["default_stage"])
            lead.update(tags=clean.get("tags", []), created_at=now, updated_at=now)
            self._leads[lead["id"]] = lead
            self._order.setdefault(organization_id, []).append(lead["id"])
            if email_key is not None:
                self._emails[email_key] = lead["id"]
            return _copy(lead)


def _copy(lead: Lead) -> Lead:
    return {**lead, "tags": list(lead["tags"])}
