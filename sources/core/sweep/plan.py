"""Sweep planning: where a sweep starts, and, for a fresh parallel backfill, its ranges."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sources.core.endpoint import EndpointSpec

from .options import SweepOptions
from .paging import StartPosition
from .ranges import plan_ranges
from .state import start_position

log = logging.getLogger("crm_leads.core")


class SweepPlanner:
    def __init__(self, spec: EndpointSpec, options: SweepOptions) -> None:
        self._spec = spec
        self._options = options

    def ranges(
        self, client: Any, stream_state: dict[str, Any], stop: threading.Event
    ) -> int | None:
        """Plan parallel ranges into ``stream_state`` when the stream has nothing loaded and
        several workers are asked for; the total due, if the planning asked for it."""
        options = self._options
        fresh = not stream_state["high_water_mark"] and not stream_state["cursor"]
        if options.workers < 2 or not fresh or stream_state.get("ranges"):
            return None
        total, ranges = plan_ranges(
            self._spec, client, options.params, options.initial_since, options.workers, stop
        )
        if ranges:
            stream_state["ranges"] = ranges
        return total

    def start(self, stream_state: dict[str, Any]) -> StartPosition:
        options = self._options
        start = start_position(self._spec, stream_state, options.initial_since, options.lookback)
        log.info(
            "sweep starts: %s",
            f"cursor of an interrupted run (mark {start.updated_since})"
            if start.cursor
            else f"{self._spec.keyset.since_param}={start.updated_since or 'the beginning'}",
        )
        return start
