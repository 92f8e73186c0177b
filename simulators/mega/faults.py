"""MEGA's fault injection: the faults that rewrite a MEGA list/create body (``bad_lead``,
``repeat_cursor``), and a plan aimed at the leads endpoint by default; the faults any API has are
the core's (``simulators.core.faults``).

Usage::

    from simulators.core import faults

    server.faults.add(faults.status(503, retry_after=2), times=2)
    server.faults.add(faults.truncate(), after=3)  # the 4th matching request is cut short
"""

from __future__ import annotations

from typing import Any

from simulators.core import faults as core
from simulators.core.faults import Fault

__all__ = [
    "BAD_LEAD_MODES",
    "BODY_KINDS",
    "LEADS_PATH",
    "FaultPlan",
    "apply_body_fault",
    "bad_lead",
    "repeat_cursor",
]

LEADS_PATH = "/api/agents/crm/leads"
BAD_LEAD_MODES = ("no_id", "no_updated_at", "wrong_types")
# Faults that alter a normally computed 200 body.
BODY_KINDS = frozenset({"missing_key", "bad_lead", "repeat_cursor"})


class FaultPlan(core.FaultPlan):
    """The core's plan; a fault added without ``path`` hits GET/POST /api/agents/crm/leads."""

    default_path = LEADS_PATH


def bad_lead(mode: str) -> Fault:
    """Corrupt the first lead of a normal page: ``no_id``, ``no_updated_at``, ``wrong_types``."""
    return core.bad_lead(mode, BAD_LEAD_MODES)


def repeat_cursor() -> Fault:
    """``next_cursor`` equals the request's own cursor: a client that trusts it loops forever.

    A request without a cursor is served unchanged, so arm it with ``after=1`` or later.
    """
    return Fault("repeat_cursor")


def apply_body_fault(fault: Fault, body: bytes, request_cursor: str | None) -> bytes:
    """Rewrite a 200 list/create body for the ``BODY_KINDS`` faults (``missing_key``: the
    core's)."""

    def rewrite(fault: Fault, doc: Any) -> Any:
        if fault.kind == "repeat_cursor":
            if request_cursor is not None:
                doc["next_cursor"] = request_cursor
        elif fault.kind == "bad_lead":
            leads = doc.get("leads") or ([doc["lead"]] if isinstance(doc.get("lead"), dict) else [])
            if leads and fault.fn is not None:  # the core's edit_lead
                fault.fn(leads[0])
            elif leads:
                _corrupt(leads[0], fault.mode)
        return doc

    return core.rewrite_json(fault, body, rewrite)


def _corrupt(lead: dict[str, Any], mode: str | None) -> None:
    if mode == "no_id":
        lead.pop("id", None)
    elif mode == "no_updated_at":
        lead.pop("updated_at", None)
    else:
        lead["id"] = 12345
        lead["updated_at"] = 1767225600000
        lead["score"] = "ninety"
        lead["qualified"] = "yes"
        lead["custom_fields"] = ["not", "a", "map"]
