"""Constants of the Leads v1 API (seed 004) and defaults of this connector's source for it."""

from __future__ import annotations

LEADS_PATH = "/api/v1/leads"
# 004: "Default limit 50, max 200": the largest page means the fewest list requests.
PAGE_LIMIT = 200
# 004 names no product, hence no public address: the base URL is a required setting.

# HTTP defaults; every one is a setting of the source (see dlt_config/config.toml).
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
WRITE_TIMEOUT_S = 30.0
POOL_TIMEOUT_S = 10.0
MAX_RETRIES = 8
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0
RETRY_AFTER_MAX_S = 120.0
MAX_RETRY_TIME_S = 600.0
RATE_LIMIT_RESERVE = 1

# Connector defaults.
# Detail requests in flight (they share one rate-limit budget).
DETAIL_CONCURRENCY = 8
MAX_DETAIL_CONCURRENCY = 64
# A checkpoint (one committed load) ends after this many list pages or seconds.
CHECKPOINT_PAGES = 25
CHECKPOINT_SECONDS = 60.0
# List pages fetched ahead while the details of the current one are fetched.
PREFETCH_PAGES = 2
DEFAULT_DATASET = "leads_v1"
PIPELINE_NAME = "leads_v1"
