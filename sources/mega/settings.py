"""Constants of the MEGA Public CRM Lead API and defaults of this connector.

API facts come from the vendor documents in ``shared/seeds`` (001: list endpoint OpenAPI,
003: cursor rules and incremental polling advice, 000: create endpoint).
"""

from __future__ import annotations

from sources.core.http import (  # noqa: F401  # re-exported: the source's HTTP defaults
    CONNECT_TIMEOUT_S,
    POOL_TIMEOUT_S,
    READ_TIMEOUT_S,
    WRITE_TIMEOUT_S,
)
from sources.core.pacing import DEFAULT_RESERVE
from sources.core.retry import DEFAULT_RETRY

DEFAULT_BASE_URL = "https://app.gomega.ai"
LEADS_PATH = "/api/agents/crm/leads"

# 001: `limit` is 1..100; the largest page means the fewest requests against the rate limit.
PAGE_LIMIT = 100
# 003: "For reliable incremental polling, use sort_by=updated_at&sort_dir=asc and keep following
# next_cursor". A cursor is only valid for the sort that produced it.
SORT_BY = "updated_at"
SORT_DIR = "asc"


# HTTP defaults: the shared core's; every one is a setting of the source (dlt_config/config.toml).
MAX_RETRIES = DEFAULT_RETRY.max_retries
BACKOFF_BASE_S = DEFAULT_RETRY.backoff_base_s
BACKOFF_MAX_S = DEFAULT_RETRY.backoff_max_s
RETRY_AFTER_MAX_S = DEFAULT_RETRY.retry_after_max_s
MAX_RETRY_TIME_S = DEFAULT_RETRY.max_retry_time_s
# Pause before the quota is gone when RateLimit-Remaining drops to this many requests.
RATE_LIMIT_RESERVE = DEFAULT_RESERVE

# Connector defaults.
# A checkpoint (one committed load) ends after this many pages or seconds, whichever first:
# a crash re-fetches at most that much; fewer, larger loads cost less dlt overhead.
CHECKPOINT_PAGES = 1000
CHECKPOINT_SECONDS = 60.0
# Pages fetched ahead, so fetching goes on while dlt writes and loads the previous ones.
PREFETCH_PAGES = 10
# A sweep with more leads than this due fetches in a child process (fetch_process.py); 0: never.
FETCH_PROCESS_MIN_LEADS = 20_000
# Raw pages (~80 KB each, +13 in the pipe) the child may run ahead, so it keeps fetching while a
# checkpoint loads; more only costs memory (RESULTS.md).
FETCH_PROCESS_BUFFER_PAGES = 150
DEFAULT_DATASET = "mega"
PIPELINE_NAME = "mega_leads"
