"""Constants of the MEGA Public CRM Lead API and of this connector (its settings: config.py).

API facts come from the vendor documents in ``shared/seeds`` (001: list endpoint OpenAPI,
003: cursor rules and incremental polling advice, 000: create endpoint).
"""

from __future__ import annotations

DEFAULT_BASE_URL = "https://app.gomega.ai"
LEADS_PATH = "/api/agents/crm/leads"

# 001: `limit` is 1..100; the largest page means the fewest requests against the rate limit.
PAGE_LIMIT = 100
# 003: "For reliable incremental polling, use sort_by=updated_at&sort_dir=asc and keep following
# next_cursor". A cursor is only valid for the sort that produced it.
SORT_BY = "updated_at"
SORT_DIR = "asc"


# Connector constants (the settings and their defaults: config.py's spec).
# Raw pages (~80 KB each, +13 in the pipe) the child may run ahead, so it keeps fetching while a
# checkpoint loads; more only costs memory (RESULTS.md).
FETCH_PROCESS_BUFFER_PAGES = 150
DEFAULT_DATASET = "mega"
PIPELINE_NAME = "mega_leads"
