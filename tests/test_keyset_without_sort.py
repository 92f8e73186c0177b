"""An API that cannot sort descending (``Keyset.sort_dir_param`` None) is swept all the same:
no append probe and no parallel ranges, which both ask for the newest item first. Against the
MEGA simulator over HTTP, with MEGA's spec as such an API would declare it."""

from __future__ import annotations

import dataclasses

from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, ManualClock
from sources.core.endpoint import EndpointSpec
from sources.core.sweep.append import AppendPolicy
from sources.core.sweep.ranges import plan_ranges
from sources.mega.client import MegaClient
from sources.mega.endpoint import LEADS
from tests.helpers import make_sim

UNSORTED = dataclasses.replace(LEADS, keyset=dataclasses.replace(LEADS.keyset, sort_dir_param=None))


def probes(clock: ManualClock, spec: EndpointSpec, workers: int) -> list[dict[str, str]]:
    """The queries an empty table's sweep planning sends (append probe, then ranges)."""
    with make_sim(clock, 4_000) as sim:
        client = MegaClient(sim.url, DEFAULT_TOKEN, DEFAULT_CUSTOMER_ID)
        try:
            AppendPolicy(spec, empty_table=True).decide_for_sweep(client, {}, None)
            total, ranges = plan_ranges(spec, client, {}, None, workers)
        finally:
            client.close()
        assert total == 4_000
        assert (ranges is None) == (spec is UNSORTED)
        return [dict(request.query) for request in sim.requests]


def test_without_a_descending_sort_nothing_asks_for_it(clock: ManualClock) -> None:
    assert [query.get("sort_dir") for query in probes(clock, UNSORTED, workers=2)] == [None]


def test_with_one_the_newest_is_probed_and_ranges_planned(clock: ManualClock) -> None:
    queries = probes(clock, LEADS, workers=2)
    # The newest (append probe), the count, the newest again, then the ranges' starts.
    assert [query.get("sort_dir") for query in queries][:3] == ["desc", None, "desc"]
