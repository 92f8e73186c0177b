"""Apollo fault injection: the core's faults (``simulators.core.faults``, re-exported), and a
plan aimed at the one endpoint the doc has, POST /v1/leads, unless told otherwise.

Usage::

    sim.faults.add(faults.status(503, retry_after=2), times=2)  # the next two creates
    sim.faults.add(faults.commit_then_drop())  # created, the answer is lost
    sim.faults.add(faults.missing_key("id"))  # a 201 without its id
"""

from __future__ import annotations

from simulators.core import faults as core
from simulators.core.faults import (
    PRE_KINDS,
    Fault,
    callback,
    commit_then_drop,
    drop,
    hang,
    html_200,
    missing_key,
    non_json_200,
    rate_limited,
    slow,
    status,
    truncate,
)

from .schema import LEADS_PATH

__all__ = [
    "BODY_KINDS",
    "PRE_KINDS",
    "Fault",
    "FaultPlan",
    "apply_body_fault",
    "callback",
    "commit_then_drop",
    "drop",
    "hang",
    "html_200",
    "missing_key",
    "non_json_200",
    "rate_limited",
    "slow",
    "status",
    "truncate",
]

# Faults that alter a normally computed 201 body (the doc's Lead object).
BODY_KINDS = frozenset({"missing_key"})


class FaultPlan(core.FaultPlan):
    """The core's plan; a fault added without ``path`` / ``method`` hits POST /v1/leads."""

    default_path = LEADS_PATH

    def add(
        self,
        fault: Fault,
        times: int | None = 1,
        path: str | None = None,
        method: str = "POST",
        after: int = 0,
    ) -> None:
        super().add(fault, times=times, path=path, method=method, after=after)


def apply_body_fault(fault: Fault, body: bytes) -> bytes:
    """Rewrite a 201 body for the ``BODY_KINDS`` faults (``missing_key``: the core's)."""
    return core.rewrite_json(fault, body, lambda _fault, doc: doc)
