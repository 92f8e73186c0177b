"""Leads v1 fault injection: the faults that rewrite a Leads v1 body (``bad_lead``), and a plan
aimed at GET /api/v1/leads by default; the faults any API has are the core's
(``simulators.core.faults``).

Usage::

    from simulators.core import faults

    sim.faults.add(faults.status(503, retry_after=2), times=2)  # GET /api/v1/leads
    sim.faults.add(faults.status(404), path=LEAD_PATH)  # GET of any single lead
    sim.faults.add(faults.commit_then_drop(), method="POST")  # created, answer lost
    sim.faults.add(faults.drop(), method="*", path=LEAD_PATH)  # GET or PATCH of a lead
"""

from __future__ import annotations

from simulators.core import faults as core
from simulators.core.faults import Fault

from .schema import LEAD_PATH, LEADS_PATH

__all__ = [
    "BAD_LEAD_MODES",
    "BODY_KINDS",
    "LEADS_PATH",
    "LEAD_PATH",
    "FaultPlan",
    "apply_body_fault",
    "bad_lead",
]

BAD_LEAD_MODES = ("no_id", "not_object", "wrong_types")
# Faults that alter a normally computed 200/201 body.
BODY_KINDS = frozenset({"missing_key", "bad_lead"})


class FaultPlan(core.FaultPlan):
    """The core's plan; a fault added without ``path`` hits /api/v1/leads (list / create).
    ``path=LEAD_PATH`` (``/api/v1/leads/{id}``) targets every single-lead request."""

    default_path = LEADS_PATH


def bad_lead(mode: str = "no_id") -> Fault:
    """Corrupt the first row of a list page (or a single-lead body): ``no_id`` drops its
    ``id``; ``not_object`` replaces it with a string; ``wrong_types`` makes id a number and
    created_at / lead_score strings of the wrong kind."""
    return core.bad_lead(mode, BAD_LEAD_MODES)


def apply_body_fault(fault: Fault, body: bytes) -> bytes:
    """Rewrite a 200/201 body for the ``BODY_KINDS`` faults (``missing_key``: the core's)."""
    return core.rewrite_json(fault, body, _bad_lead)


def _bad_lead(fault: Fault, doc: object) -> object:
    if fault.kind != "bad_lead":
        return doc
    rows = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        return _corrupt(doc, fault)
    if rows:
        rows[0] = _corrupt(rows[0], fault)
    return doc


def _corrupt(row: object, fault: Fault) -> object:
    mode = fault.mode
    if fault.fn is not None and isinstance(row, dict):  # the core's edit_lead
        fault.fn(row)
        return row
    if mode == "not_object" or not isinstance(row, dict):
        return "9f1c8a32-4d65-4e2b-8a91-3c0e7d4b2f18"
    if mode == "no_id":
        row.pop("id", None)
    else:
        row.update(id=12345, created_at=1777296125114, lead_score="eighty-seven")
    return row
