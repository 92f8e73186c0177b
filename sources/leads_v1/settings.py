"""Constants of the Leads v1 API (seed 004) and defaults of this connector's source for it."""

from __future__ import annotations

from sources.core.http import (  # noqa: F401  # re-exported: the source's HTTP defaults
    CONNECT_TIMEOUT_S,
    READ_TIMEOUT_S,
    WRITE_TIMEOUT_S,
)
from sources.core.pacing import DEFAULT_RESERVE
from sources.core.retry import DEFAULT_RETRY

LEADS_PATH = "/api/v1/leads"
# 004: "Default limit 50, max 200": the largest page means the fewest list requests.
PAGE_LIMIT = 200
# 004 names no product, hence no public address: the base URL is a required setting.

# HTTP defaults: the shared core's; every one is a setting of the source (dlt_config/config.toml).
MAX_RETRIES = DEFAULT_RETRY.max_retries
BACKOFF_BASE_S = DEFAULT_RETRY.backoff_base_s
BACKOFF_MAX_S = DEFAULT_RETRY.backoff_max_s
RETRY_AFTER_MAX_S = DEFAULT_RETRY.retry_after_max_s
MAX_RETRY_TIME_S = DEFAULT_RETRY.max_retry_time_s
RATE_LIMIT_RESERVE = DEFAULT_RESERVE

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
