"""Local, faithful simulator of the MEGA Public CRM Lead API (GET/POST /api/agents/crm/leads),
built on the shared server core (``simulators.core``).

Several customers on one server, each with its own token, leads, rate-limit budget and
faults::

    with SimulatorServer(accounts=[account("acme", 500, 1), account("globex", 200, 2)]) as sim:
        settings = sim.account_settings("acme")  # base_url, api_token, customer_id
        sim.revoke("globex")  # its token now answers 401
        len(sim.requests_of("acme"))
"""

from __future__ import annotations

from simulators.core.accounts import Account
from simulators.core.ratelimit import RateLimiter
from simulators.core.request_log import RequestRecord

from .auth import DEFAULT_TOKEN, READ_SCOPE, WEBHOOKS_SCOPE, WRITE_SCOPE, account
from .clock import Clock, ManualClock, SystemClock, parse_iso
from .data import DEFAULT_CUSTOMER_ID, STAGES, generate_leads
from .errors import ApiError
from .faults import FaultPlan, bad_lead, repeat_cursor
from .server import SimulatorServer
from .store import LeadStore

__all__ = [
    "DEFAULT_CUSTOMER_ID",
    "DEFAULT_TOKEN",
    "READ_SCOPE",
    "STAGES",
    "WEBHOOKS_SCOPE",
    "WRITE_SCOPE",
    "Account",
    "ApiError",
    "Clock",
    "FaultPlan",
    "LeadStore",
    "ManualClock",
    "RateLimiter",
    "RequestRecord",
    "SimulatorServer",
    "SystemClock",
    "account",
    "bad_lead",
    "generate_leads",
    "parse_iso",
    "repeat_cursor",
]
