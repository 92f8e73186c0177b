"""``SourceServer``: the simulator of an API a source loads from, as a suite that tests any
registered source reads it (``tests/contract``): how to start one with sample leads on a given
clock, what points a run at it, where and how its list pages, and the leads it holds.

A source's simulator subclasses it; the registry names the class (``pipelines.registry``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from .clock import Clock
from .faults import FaultPlan
from .server import ServerCore


class SourceServer(ServerCore, ABC):
    """A simulated API that lists leads in pages."""

    list_path: ClassVar[str]  # where the sweep lists the leads (GET)
    items_key: ClassVar[str]  # the list answer's key that holds a page's leads
    page_size: ClassVar[int]  # the largest page the list serves: the page a sweep asks for
    faults: FaultPlan  # aimed at the list path by default

    @classmethod
    @abstractmethod
    def sample(cls, n_leads: int, seed: int = 0, clock: Clock | None = None) -> SourceServer:
        """A server (not started yet) holding ``n_leads`` generated leads, on ``clock`` (the
        wall clock when None)."""
        ...

    @abstractmethod
    def run_settings(self) -> dict[str, str]:
        """The settings that point a run at this server (base_url, api_token …)."""
        ...

    @abstractmethod
    def leads(self) -> list[dict[str, Any]]:
        """The leads it holds now, each with every field its API serves of it."""
        ...

    @abstractmethod
    def list_order(self) -> list[str]:
        """The ids of :meth:`leads` in the order the list serves them."""
        ...

    def child_rows(self) -> dict[str, list[dict[str, Any]]]:
        """The rows a faithful copy of :meth:`leads` holds in tables of its own (MEGA's custom
        fields), by table, as a warehouse names the columns; none by default."""
        return {}
