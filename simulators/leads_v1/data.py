"""Deterministic, realistic Leads v1 records (full detail shape).

Everything is drawn from one ``random.Random(seed)``, so (n, seed, organization_id, now)
always yields the same leads. ``created_at`` spans the 90 days before ``now`` with deliberate
ties (about every 7th lead shares the previous lead's millisecond), the case a keyset cursor
on created_at alone would skip or repeat rows in.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from datetime import datetime, timedelta

from simulators.core.clock import format_ts

from .clock import UTC
from .schema import DEFAULT_ORGANIZATION_ID, DETAIL_FIELDS, SOURCES, STAGES, Lead

DEFAULT_NOW = datetime(2026, 4, 28, tzinfo=UTC)
SPAN = timedelta(days=90)
TIE_RATE = 1 / 7

_FIRST = (
    "Sarah", "James", "María", "Wei", "Aoife", "Kwame", "Priya", "Jürgen", "Chloé", "Darnell",
    "Fatima", "Hiroshi", "Łukasz", "Emily", "Olusegun", "Sofía", "Ryan", "Zoë",
)  # fmt: skip
_LAST = (
    "Mitchell", "O'Brien", "García", "Chen", "Okafor", "Patel", "Müller", "Dubois", "Smith",
    "Nguyễn", "Tanaka", "Kowalski", "Johnson", "Ramírez", "Åberg", "Al-Farsi",
)  # fmt: skip
_COMPANIES = (
    "Mitchell Roofing LLC", "Harbor Property Mgmt", "Blue Ridge Dental", "Acme Facilities",
    "Søndergaard & Co", "Northside HOA", "García Construcción", "Peak Realty Group",
)  # fmt: skip
_INDUSTRIES = ("residential", "commercial", "property_management", "hospitality", "healthcare")
_SIZES = ("1-10", "11-50", "51-200", "201-500", "500+")
_DOMAINS = ("example.com", "example.org", "mail.example.net", "Example.COM")
_PAINS = (
    "Recurring basement moisture after spring rain",
    "Roof leak over the kitchen; insurance claim open",
    "Needs a quote before the HOA meeting on Friday",
    "Mold smell in the crawl space — tenant complaints",
    "Wants financing options; budget is tight",
    "Sump pump failed twice this year",
)
_TIMELINES = ("this_week", "this_month", "this_quarter", "exploring")
_BUDGETS = ("<5k", "5k-15k", "15k-50k", "50k+")
_REASONING = (
    "High urgency: water damage signal, recent storm event, in-radius",
    "Medium intent: price shopping, no timeline given",
    "Low fit: outside service radius",
    "Strong fit: commercial account, decision maker on the form",
)


def _ascii(name: str) -> str:
    """An email-safe local part, accents dropped (``Łukasz`` -> ``lukasz``)."""
    folded = unicodedata.normalize("NFKD", name.replace("Ł", "L")).encode("ascii", "ignore")
    return folded.decode().lower()


def generate_leads(
    n: int,
    seed: int = 0,
    organization_id: str = DEFAULT_ORGANIZATION_ID,
    now: datetime = DEFAULT_NOW,
) -> list[Lead]:
    """``n`` full records in (created_at, id) order, all at or before ``now``.

    ``updated_at >= created_at`` (and ``>= qualification_completed_at``); about 30% of leads
    have no company and no industry/company_size, about 45% were never AI-qualified (their
    qualification fields are null), and every lead has an email or a name and a company.
    """
    rng = random.Random(seed)
    r = rng.random
    end = now.astimezone(UTC)
    span_ms = int(SPAN / timedelta(milliseconds=1))
    offsets = sorted(rng.randrange(span_ms) for _ in range(n))
    for i in range(1, n):
        if r() < TIE_RATE:
            offsets[i] = offsets[i - 1]
    start = end - SPAN
    leads: list[Lead] = []
    for i, offset in enumerate(offsets):
        created = start + timedelta(milliseconds=offset)
        room_ms = int((end - created) / timedelta(milliseconds=1))
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        company = rng.choice(_COMPANIES) if r() < 0.7 else None
        email: str | None = f"{_ascii(first)}.{i}@{rng.choice(_DOMAINS)}"
        if company is not None and r() < 0.1:
            email = None  # name + company is enough (the doc's create rule)
        lead: Lead = dict.fromkeys(DETAIL_FIELDS)
        lead.update(
            id=str(uuid.UUID(bytes=rng.randbytes(16), version=4)),
            organization_id=organization_id,
            name=f"{first} {last}" if email is None or r() < 0.95 else None,
            company=company,
            email=email,
            source=rng.choice(SOURCES),
            lead_score=rng.randrange(101),
            pipeline_stage=rng.choice(STAGES),
            created_at=format_ts(created),
        )
        if company is not None:
            lead["industry"] = rng.choice(_INDUSTRIES) if r() < 0.8 else None
            lead["company_size"] = rng.choice(_SIZES) if r() < 0.6 else None
        updated_ms = 0 if r() < 0.35 else int(room_ms * r() * r())
        if r() < 0.55:
            # Qualification finishes seconds after the lead arrives (the doc's example: 4 s).
            qualified_ms = min(room_ms, 500 + rng.randrange(30_000))
            updated_ms = max(updated_ms, qualified_ms)
            qualified = created + timedelta(milliseconds=qualified_ms)
            lead.update(
                pain_points=rng.choice(_PAINS),
                timeline=rng.choice(_TIMELINES),
                budget_range=rng.choice(_BUDGETS) if r() < 0.7 else None,
                ai_reasoning=rng.choice(_REASONING),
                qualification_completed_at=format_ts(qualified),
            )
        lead["updated_at"] = format_ts(created + timedelta(milliseconds=updated_ms))
        leads.append(lead)
    leads.sort(key=lambda lead: (lead["created_at"], lead["id"]))
    return leads
