"""A lead whose timestamp is not one (issue 23, point 3): every sweep stops at the page that
lists it with one line naming the page, the lead and the field, the pages before it committed;
the rerun, once the API answers well again, is exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelines.result import RunFailed
from simulators.core import faults
from simulators.mega import ManualClock

from .sources import BY_NAME, SOURCES, SourceUnderTest

MEGA = BY_NAME["mega"]  # its incremental sweep and reconcile


class BadTimestamp:
    """A fault that sets ``field`` of a page's first lead to 'yesterday' (the simulators'
    ``edit_lead`` fault), keeping the ids it corrupted."""

    def __init__(self, field: str):
        self.ids: list[str] = []

        def corrupt(lead: dict[str, Any]) -> None:
            self.ids.append(lead["id"])
            lead[field] = "yesterday"

        self.fault = faults.edit_lead(corrupt)


def assert_stopped_at(
    failed: RunFailed, page: int, bad: BadTimestamp, field: str, source: SourceUnderTest = MEGA
) -> None:
    message = str(failed)
    assert "\n" not in message and len(message) < 200, message
    assert (
        f"page {page}: {source.noun} {bad.ids[0]} has `{field}` 'yesterday', not a timestamp"
        in message
    )


# Every source's lead timestamps the sweeps read.
CASES = [
    (source, field)
    for source in SOURCES
    for field in ("created_at", "updated_at")
    if field in source.columns[source.table]
]


@pytest.mark.parametrize(
    ("source", "field"), CASES, ids=[f"{source.name}-{field}" for source, field in CASES]
)
def test_a_bad_timestamp_stops_the_sweep_at_its_page(
    source: SourceUnderTest,
    field: str,
    tmp_path: Path,
    clock: ManualClock,
) -> None:
    with source.make_sim(clock, 5 * source.page) as api:
        bad = BadTimestamp(field)
        api.faults.add(bad.fault, after=source.at_page(3))

        with pytest.raises(RunFailed) as failed:
            source.run(tmp_path, api)

        assert_stopped_at(failed.value, 3, bad, field, source)
        loaded = source.loaded_ids(tmp_path)
        assert sorted(loaded) == sorted(source.first_pages_ids(api, 2))
        api.faults.clear()
        source.run(tmp_path, api)
        source.assert_exact(tmp_path, api)


def test_a_bad_timestamp_at_the_mark(tmp_path: Path, clock: ManualClock) -> None:
    """The incremental sweep's first page starts with the lead at the mark (inclusive)."""
    with MEGA.make_sim(clock, 300) as api:
        MEGA.run(tmp_path, api)
        bad = BadTimestamp("updated_at")
        api.faults.add(bad.fault)

        with pytest.raises(RunFailed) as failed:
            MEGA.run(tmp_path, api)

        assert_stopped_at(failed.value, 1, bad, "updated_at")
        api.faults.clear()
        MEGA.run(tmp_path, api)
        MEGA.assert_exact(tmp_path, api)


def test_a_bad_timestamp_stops_the_reconcile(tmp_path: Path, clock: ManualClock) -> None:
    with MEGA.make_sim(clock, 500) as api:
        MEGA.run(tmp_path, api)
        api.store.delete(api.store.ids()[0])  # the reconcile's work: removed once it passes
        bad = BadTimestamp("updated_at")
        api.faults.add(bad.fault, after=1 + 2)  # the incremental sweep's page, two of the sweep

        with pytest.raises(RunFailed) as failed:
            MEGA.run(tmp_path, api, reconcile=True, delete_mode="hard")

        assert_stopped_at(failed.value, 3, bad, "updated_at")
        assert failed.value.result.reconciled is False
        api.faults.clear()
        result = MEGA.run(tmp_path, api, reconcile=True, delete_mode="hard")
        assert result.deleted == 1
        MEGA.assert_exact(tmp_path, api)
