"""Apollo fault injection: a plan aimed at the one endpoint the doc has, POST /v1/leads, unless
told otherwise, armed with the core's faults (``simulators.core.faults``).

Usage::

    from simulators.core import faults

    sim.faults.add(faults.status(503, retry_after=2), times=2)  # the next two creates
    sim.faults.add(faults.commit_then_drop())  # created, the answer is lost
    sim.faults.add(faults.missing_key("id"))  # a 201 without its id
"""

from __future__ import annotations

from simulators.core import faults as core
from simulators.core.faults import Fault

from .schema import LEADS_PATH

__all__ = [
    "BODY_KINDS",
    "FaultPlan",
    "apply_body_fault",
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
