"""The Leads v1 record as the vendor document (seed 004) shows it: which fields each endpoint
returns, in the document's order, and the organizations the simulator knows."""

from __future__ import annotations

from typing import Any

Lead = dict[str, Any]

LEADS_PATH = "/api/v1/leads"
# A fault plan path pattern: ``{id}`` matches any single lead (``simulators.core.faults``).
LEAD_PATH = "/api/v1/leads/{id}"

# The document's own example organization, so its examples read like the simulator's answers.
DEFAULT_ORGANIZATION_ID = "8c2f0a14-0c8a-4a3a-9a4d-3e0f1d6c2a91"
# A second tenant whose few leads the default token must never see (the doc: "RLS enforced").
OTHER_ORGANIZATION_ID = "3b7e5d20-1f4c-4e8b-b6a2-7c9d0e1f2a3b"

# GET /api/v1/leads rows and the POST 201 body (the doc's list and create examples).
LIST_FIELDS: tuple[str, ...] = (
    "id",
    "organization_id",
    "name",
    "company",
    "email",
    "source",
    "lead_score",
    "pipeline_stage",
    "industry",
    "company_size",
    "created_at",
    "updated_at",
)
QUALIFICATION_FIELDS: tuple[str, ...] = (
    "pain_points",
    "timeline",
    "budget_range",
    "ai_reasoning",
    "qualification_completed_at",
)
# GET /api/v1/leads/{id}: the doc's detail example puts the AI-qualification metadata between
# company_size and created_at.
DETAIL_FIELDS: tuple[str, ...] = (
    *LIST_FIELDS[:-2],
    *QUALIFICATION_FIELDS,
    *LIST_FIELDS[-2:],
)
# PATCH /api/v1/leads/{id} answers with this subset (the doc's PATCH example).
PATCH_RESPONSE_FIELDS: tuple[str, ...] = (
    "id",
    "organization_id",
    "name",
    "company",
    "email",
    "source",
    "lead_score",
    "pipeline_stage",
    "updated_at",
)
# The doc's PATCH whitelist; POST accepts the same fields.
WRITABLE_FIELDS: tuple[str, ...] = (
    "name",
    "company",
    "email",
    "source",
    "lead_score",
    "pipeline_stage",
    "industry",
    "company_size",
    "pain_points",
    "timeline",
    "budget_range",
    "ai_reasoning",
)
# Not in the doc: the values the generator draws (the doc shows google_ads, website, new,
# qualified, won). The API does not restrict them; filters are exact matches.
STAGES = ("new", "contacted", "qualified", "proposal", "won", "lost")
SOURCES = ("google_ads", "website", "facebook", "referral", "phone_call", "yelp")
DEFAULT_STAGE = "new"


def project(lead: Lead, fields: tuple[str, ...]) -> Lead:
    return {name: lead[name] for name in fields}
