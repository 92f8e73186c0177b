"""Bad input from the API: a malformed page fails in one clear line, nothing after it is
committed, and the rerun recovers.

Every failing run is followed by a rerun that must reach exact equality with the simulator's
truth (no duplicate rows) with no more requests than the pages left plus one checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.result import RunFailed
from simulators.core import faults
from simulators.core.faults import Fault
from simulators.mega import ManualClock
from simulators.mega.faults import bad_lead, repeat_cursor
from tests.helpers import (
    ATTEMPTS,
    PAGE,
    PROBE,
    Warehouse,
    assert_exact,
    assert_rerun_requests,
    assert_state_not_ahead,
    first_pages_ids,
    keyset_order,
    list_requests,
    make_sim,
    newest,
    one_line_error,
)

# name: (fault, a word the error must contain). Armed on page 2 of 2, forever.
MALFORMED: dict[str, tuple[Fault, str]] = {
    "non_json": (faults.non_json_200(), "JSON"),
    "html_200": (faults.html_200(), "JSON"),
    "missing_leads": (faults.missing_key("leads"), "`leads`"),
    "missing_next_cursor": (faults.missing_key("next_cursor"), "`next_cursor`"),
    "lead_without_id": (bad_lead("no_id"), "`id`"),
    "lead_without_updated_at": (bad_lead("no_updated_at"), "`updated_at`"),
    "wrong_types": (bad_lead("wrong_types"), "`id`"),
    "repeating_cursor": (repeat_cursor(), "next_cursor"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_page_fails_clearly_commits_nothing_after_and_rerun_recovers(
    case: str, tmp_path: Path, clock: ManualClock
) -> None:
    fault, word = MALFORMED[case]
    with make_sim(clock, 150) as sim:
        warehouse = Warehouse(tmp_path, sim)
        sim.faults.add(fault, times=None, after=PROBE + 1)

        with pytest.raises(RunFailed) as failed:
            warehouse.run(checkpoint_pages=1)

        message = one_line_error(failed.value)
        assert "page 2" in message
        assert word in message
        assert failed.value.result.outcome == "failed"
        assert len(list_requests(sim)) <= 1 + ATTEMPTS  # never loops
        # Page 1 was a checkpoint of its own; nothing of page 2 or later is committed.
        assert set(warehouse.leads()) == first_pages_ids(sim, 1)
        assert warehouse.state()["high_water_mark"] == newest(keyset_order(sim)[:PAGE])
        assert_state_not_ahead(warehouse, sim)

        sim.faults.clear()
        sim.clear_requests()
        result = warehouse.run(checkpoint_pages=1)

        assert_exact(warehouse, sim)
        assert_rerun_requests(sim, result, remaining=1, checkpoint=1)
