"""Local, faithful simulator of the MEGA Public CRM Lead API (GET/POST /api/agents/crm/leads),
built on the shared server core (``simulators.core``)."""

from __future__ import annotations

from simulators.core.ratelimit import RateLimiter
from simulators.core.request_log import RequestRecord

from . import faults
from .auth import DEFAULT_TOKEN, READ_SCOPE, WEBHOOKS_SCOPE, WRITE_SCOPE
from .clock import Clock, ManualClock, SystemClock, format_ts, parse_iso
from .data import DEFAULT_CUSTOMER_ID, STAGES, generate_leads
from .errors import ApiError
from .faults import (
    Fault,
    FaultPlan,
    bad_lead,
    callback,
    drop,
    hang,
    html_200,
    missing_key,
    non_json_200,
    rate_limited,
    repeat_cursor,
    slow,
    status,
    truncate,
)
from .server import SimulatorServer
from .store import LeadStore

__all__ = [
    "DEFAULT_CUSTOMER_ID",
    "DEFAULT_TOKEN",
    "READ_SCOPE",
    "STAGES",
    "WEBHOOKS_SCOPE",
    "WRITE_SCOPE",
    "ApiError",
    "Clock",
    "Fault",
    "FaultPlan",
    "LeadStore",
    "ManualClock",
    "RateLimiter",
    "RequestRecord",
    "SimulatorServer",
    "SystemClock",
    "bad_lead",
    "callback",
    "drop",
    "faults",
    "format_ts",
    "generate_leads",
    "hang",
    "html_200",
    "missing_key",
    "non_json_200",
    "parse_iso",
    "rate_limited",
    "repeat_cursor",
    "slow",
    "status",
    "truncate",
]
