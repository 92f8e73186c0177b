"""Constants of the Leads v1 API (seed 004) and of this connector's source for it."""

from __future__ import annotations

LEADS_PATH = "/api/v1/leads"
# 004: "Default limit 50, max 200": the largest page means the fewest list requests.
PAGE_LIMIT = 200
# 004 names no product, hence no public address: the base URL is a required setting.

# The settings and their defaults: config.py's spec.
DEFAULT_DATASET = "leads_v1"
PIPELINE_NAME = "leads_v1"
