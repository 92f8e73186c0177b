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
# Leads shaped to arrow at a time: keeps the Python dicts waiting for shaping to a few pages.
SHAPE_ROWS = 1000
# Leads handed to dlt at a time: dlt spends a fixed amount of schema work per yielded table
# whatever its size, so shaped tables are joined (zero-copy) into ~25k-lead items.
YIELD_ROWS = 25_000
# DuckDB's row group (rows). Custom-field rows go to dlt in whole multiples of it, the rest carried
# to the checkpoint's next item: DuckDB then appends each parquet row group as one of its own
# instead of merging partial ones, which is slower (RESULTS.md).
DUCKDB_ROW_GROUP = 122_880
DEFAULT_DATASET = "mega"
# Not "mega.duckdb": a DuckDB file whose catalog name equals the dataset name fails the load.
DEFAULT_DUCKDB_FILE = "mega_leads.duckdb"
PIPELINE_NAME = "mega_leads"
