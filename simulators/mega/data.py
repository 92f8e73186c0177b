"""Deterministic, realistic lead data.

Everything is drawn from one ``random.Random(seed)`` so a (n, seed, customer_id, base_time)
tuple always yields the same leads. The generator is written for 1M leads: small shared pools
(names, stages, owners, note texts) keep memory down, and per-lead work is a handful of
``random()`` calls and f-strings.
"""

from __future__ import annotations

import gc
import random
from datetime import datetime
from typing import Any

from .clock import UTC, format_epoch_ms, to_epoch_ms

DEFAULT_CUSTOMER_ID = "00000000-0000-4000-8000-000000000001"
DEFAULT_BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)

STATUSES = ("active", "won", "lost", "nurture", "archived")
SOURCE_PLATFORMS = (
    "google_ads",
    "meta_ads",
    "google_organic",
    "direct",
    "referral",
    "hubspot",
    "zoho",
    "ghl",
    "shopify",
    "zenmaid",
    "lead_docket",
    "salesforce",
)
SOURCE_TYPES = ("form", "phone_call", "email", "chat", "sms", "manual", "import")
LEAD_LINES = ("buyer", "seller")

# Fixed ids so stageId filters written against one run still hold for the next.
STAGES: tuple[dict[str, Any], ...] = (
    {
        "id": "5d1f0c2a-7b3e-4c1d-9a51-0f3b2c1d4e01",
        "slug": "new",
        "name": "New",
        "color": "#22c55e",
    },
    {
        "id": "5d1f0c2a-7b3e-4c1d-9a51-0f3b2c1d4e02",
        "slug": "contacted",
        "name": "Contacted",
        "color": "#3b82f6",
    },
    {
        "id": "5d1f0c2a-7b3e-4c1d-9a51-0f3b2c1d4e03",
        "slug": "qualified",
        "name": "Qualified",
        "color": "#a855f7",
    },
    {
        "id": "5d1f0c2a-7b3e-4c1d-9a51-0f3b2c1d4e04",
        "slug": "showing",
        "name": "Showing",
        "color": None,
    },
    {
        "id": "5d1f0c2a-7b3e-4c1d-9a51-0f3b2c1d4e05",
        "slug": "under_contract",
        "name": "Under contract",
        "color": "#f59e0b",
    },
    {
        "id": "5d1f0c2a-7b3e-4c1d-9a51-0f3b2c1d4e06",
        "slug": "closed",
        "name": "Closed – won",
        "color": "#64748b",
    },
)

OWNERS: tuple[dict[str, Any], ...] = (
    {"id": "7a000000-0000-4000-8000-00000000a001", "name": "Alex Agent", "role_name": "Closer"},
    {"id": "7a000000-0000-4000-8000-00000000a002", "name": "Søren Kjær", "role_name": "ISA"},
    {"id": "7a000000-0000-4000-8000-00000000a003", "name": "María José Peña", "role_name": None},
    {"id": "7a000000-0000-4000-8000-00000000a004", "name": "王芳", "role_name": "Team Lead"},
    {"id": "7a000000-0000-4000-8000-00000000a005", "name": "Amara Nwosu", "role_name": "Closer"},
    {"id": "7a000000-0000-4000-8000-00000000a006", "name": "D'Angelo Smith", "role_name": None},
)

# (display first name, ascii email local part)
_FIRST = (
    ("José", "jose"), ("Zoë", "zoe"), ("Ngozi", "ngozi"), ("Jane", "jane"), ("Li", "li"),
    ("François", "francois"), ("Ana", "ana"), ("Björn", "bjorn"), ("Aoife", "aoife"),
    ("Mohammed", "mohammed"), ("Priya", "priya"), ("Chloé", "chloe"), ("Jürgen", "jurgen"),
    ("Olusegun", "olusegun"), ("Sofía", "sofia"), ("Hiroshi", "hiroshi"), ("Zsófia", "zsofia"),
    ("Łukasz", "lukasz"), ("Emily", "emily"), ("Darnell", "darnell"), ("Siobhán", "siobhan"),
    ("Mei", "mei"), ("Ryan", "ryan"), ("Fatima", "fatima"),
)  # fmt: skip
_LAST = (
    ("Müller", "muller"), ("O'Brien", "obrien"), ("Okafor", "okafor"), ("Buyer", "buyer"),
    ("García", "garcia"), ("Nguyễn", "nguyen"), ("Kowalski", "kowalski"), ("Smith", "smith"),
    ("Dubois", "dubois"), ("Ivanova", "ivanova"), ("Tanaka", "tanaka"), ("Al-Farsi", "alfarsi"),
    ("Johnson", "johnson"), ("Ó Súilleabháin", "osullivan"), ("Ramírez", "ramirez"),
    ("Van der Berg", "vanderberg"), ("Patel", "patel"), ("Åberg", "aberg"),
)  # fmt: skip
# Whole-name entries (CJK names have no space and use a romanised email).
_WHOLE = (
    ("李雷", "li.lei"),
    ("韩梅梅", "han.meimei"),
    ("김민준", "kim.minjun"),
    ("Ελένη Παππά", "eleni.pappa"),
)
_DOMAINS = ("example.com", "example.org", "mail.example.net", "Example.COM", "example.co.uk")
_AREAS = ("206", "425", "312", "415", "512", "646", "718", "305", "404", "617", "303", "702")
_NOTES = (
    "Prefers morning calls ☀️",
    "Wants a garden — no HOA, please",
    "需要学区房",
    'Asked about "the blue house" on 5th',
    "Relocating from München; needs Umzug help",
    "Line 1\nLine 2: second viewing",
    "Pre-approved with credit union; flexible on closing",
    "Ne pas appeler le week-end",
    "🏡 first-time buyer",
    "",
)
_NEIGHBORHOODS = (
    "Capitol Hill",
    "Ballard",
    "Queen Anne",
    "Fremont",
    "Mission",
    "Södermalm",
    "Wicker Park",
)
_MOVE_IN = ("2026-03-15", "03/15/2026", "Q2 2026", "ASAP", "2026-06-01", "flexible")
_TIMELINES = ("0-3 months", "3-6 months", "6-12 months", "12+ months")
_YEAR_MS = 365 * 86_400_000
_PHONE_FORMATS = 6
_TEMPLATES = 4096
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def _phone(rnd: random.Random, i: int) -> str:
    # A bijection of i mod 10^7 (7919 is coprime to 10) keeps the last 10 digits unique.
    n7 = (i * 7919 + 1_234_567) % 10_000_000
    area = _AREAS[i % len(_AREAS)]
    ex, line = divmod(n7, 10_000)
    k = int(rnd.random() * _PHONE_FORMATS)
    if k == 0:
        return f"+1 ({area}) {ex:03d}-{line:04d}"
    if k == 1:
        return f"+1{area}{ex:03d}{line:04d}"
    if k == 2:
        return f"({area}) {ex:03d}-{line:04d}"
    if k == 3:
        return f"{area}-{ex:03d}-{line:04d}"
    if k == 4:
        return f"{area}.{ex:03d}.{line:04d}"
    return f"1 {area} {ex:03d} {line:04d}"


def _custom_fields(r: Any) -> dict[str, Any]:
    """Mixed value types per slug on purpose: warehouses must cope with budget as str/int/float."""
    if r() < 0.08:
        return {}
    cf: dict[str, Any] = {}
    if r() < 0.9:
        cf["lead_line"] = "buyer" if r() < 0.62 else "seller"
    if r() < 0.85:
        x = r()
        amount = 150_000 + int(r() * 60) * 25_000
        cf["budget"] = str(amount) if x < 0.4 else (amount if x < 0.8 else amount - 49_999.5)
    if r() < 0.7:
        x = r()
        cf["pre_approved"] = (x < 0.45) if x < 0.8 else ("yes" if x < 0.9 else "no")
    if r() < 0.75:
        cf["bedrooms"] = None if r() < 0.2 else 1 + int(r() * 6)
    if r() < 0.6:
        cf["notes"] = _NOTES[int(r() * len(_NOTES))]
    if r() < 0.55:
        cf["move_in_date"] = _MOVE_IN[int(r() * len(_MOVE_IN))]
    if r() < 0.5:
        cf["neighborhood"] = _NEIGHBORHOODS[int(r() * len(_NEIGHBORHOODS))]
    if r() < 0.45:
        x = r()
        sqft = 600 + int(r() * 3000)
        cf["sqft"] = sqft if x < 0.6 else (sqft + 0.5 if x < 0.8 else f"{sqft:,}")
    if r() < 0.25:
        code = int(r() * 1000)
        cf["referral_code"] = f"REF-{code:04d}" if r() < 0.7 else code
    if r() < 0.2:
        cf["timeline"] = _TIMELINES[int(r() * len(_TIMELINES))]
    return cf


def random_custom_field(rnd: random.Random) -> tuple[str, Any]:
    """One (slug, value) pair in the same style, for mutations."""
    cf: dict[str, Any] = {}
    while not cf:
        cf = _custom_fields(rnd.random)
    slug = rnd.choice(sorted(cf))
    return slug, cf[slug]


def generate_leads(
    n: int,
    seed: int = 0,
    customer_id: str = DEFAULT_CUSTOMER_ID,
    custom_fields_per_lead: float = 5.3,
    base_time: datetime = DEFAULT_BASE_TIME,
) -> list[dict[str, Any]]:
    """``n`` leads as the API returns them with ``include_custom_fields=true``.

    Returned in creation order (like a DB export). ``created_at`` spans the year before
    ``base_time``; ``updated_at`` is in ``[created_at, base_time]``. About a quarter of leads
    arrive in import batches that share one ``created_at``/``updated_at`` (ties of up to ~400,
    and at most 2% of the dataset),
    and about a tenth were touched by bulk edits that share one of a few dozen timestamps.
    ``custom_fields_per_lead`` lowers the average number of custom fields (the natural mix,
    ~5.3, is the maximum). Nested dicts (``current_stage``, ``owner``) are shared between
    leads: treat them as immutable.
    """
    # The cyclic GC rescans every young dict while millions are being created, which costs
    # more than the generation itself; nothing here forms cycles.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(n, seed, customer_id, custom_fields_per_lead, base_time)
    finally:
        if gc_was_enabled:
            gc.enable()


def _generate(
    n: int, seed: int, customer_id: str, custom_fields_per_lead: float, base_time: datetime
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    r = rng.random
    randbytes = rng.randbytes
    end_ms = to_epoch_ms(base_time)
    start_ms = end_ms - _YEAR_MS
    bulk = sorted(start_ms + int(r() * _YEAR_MS) for _ in range(40))
    names = [(f"{f} {la}", f"{fe}.{le}") for f, fe in _FIRST for la, le in _LAST]
    names.extend(_WHOLE)
    n_names = len(names)
    n_owners = len(OWNERS)
    n_stages = len(STAGES)
    # Custom-field maps are copied from a pool of templates: drawing ~20 random numbers per
    # lead was a third of the generation time, and 4096 combinations is ample variety.
    keep = min(1.0, custom_fields_per_lead / 5.3)
    templates = [_custom_fields(r) for _ in range(_TEMPLATES)]
    if keep < 1.0:
        templates = [{k: v for k, v in cf.items() if r() < keep} for cf in templates]
    leads: list[dict[str, Any]] = []
    append = leads.append
    # Creation times in increasing order: a sorted sample of offsets, grouped into batches.
    step = _YEAR_MS / max(n, 1) * 0.97
    t = float(start_ms)
    i = 0
    while i < n:
        # Import batches share one timestamp; kept to 2% of the dataset so a small test store
        # is not one big tie (a 100k store still gets batches of up to 400).
        batch = min(n - i, 20 + int(r() * 380), max(2, n // 50)) if r() < 0.0016 and n > 1 else 1
        t += step * batch * (0.5 + r())
        created_ms = min(int(t), end_ms)
        created = format_epoch_ms(created_ms)
        for _ in range(batch):
            h = randbytes(16).hex()
            lead_id = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"
            if batch > 1:
                updated_ms = created_ms
                updated = created
            else:
                x = r()
                if x < 0.3:
                    updated_ms = created_ms
                elif x < 0.4:
                    b = bulk[int(r() * len(bulk))]
                    updated_ms = b if b >= created_ms else created_ms
                else:
                    updated_ms = created_ms + int((end_ms - created_ms) * r() * r())
                updated = created if updated_ms == created_ms else format_epoch_ms(updated_ms)
            name, local = names[int(r() * n_names)]
            x = r()
            if x < 0.04:
                contact_name = None
            elif x < 0.06:
                contact_name = name.upper()
            else:
                contact_name = name
            email = None if r() < 0.1 else f"{local}.{i}@{_DOMAINS[int(r() * 5)]}"
            phone = None if r() < 0.12 else _phone(rng, i)
            if contact_name is None and email is None and phone is None:
                email = f"{local}.{i}@example.com"
            if r() < 0.35:
                last_interaction, count = None, 0
            else:
                lim = created_ms + int((updated_ms - created_ms) * r())
                last_interaction, count = format_epoch_ms(lim), 1 + int(r() * 40)
            cf = templates[int(r() * _TEMPLATES)].copy()
            owner = None if r() < 0.15 else OWNERS[int(r() * n_owners)]
            stage = None if r() < 0.12 else STAGES[int(r() * n_stages)]
            x = r()
            append(
                {
                    "id": lead_id,
                    "customer_id": customer_id,
                    "contact_name": contact_name,
                    "contact_phone": phone,
                    "contact_email": email,
                    "source_platform": SOURCE_PLATFORMS[int(r() * 12)],
                    "source_type": "import" if batch > 1 else SOURCE_TYPES[int(r() * 6)],
                    "status": STATUSES[0 if x < 0.45 else int(r() * 5)],
                    "score": None if x > 0.7 else int(r() * 101),
                    "qualified": None if x < 0.3 else r() < 0.5,
                    "current_stage": stage,
                    "owner": owner,
                    "last_interaction_at": last_interaction,
                    "interaction_count": count,
                    "created_at": created,
                    "updated_at": updated,
                    "custom_fields": cf,
                }
            )
            i += 1
    return leads
