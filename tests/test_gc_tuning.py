"""The run tunes CPython's garbage collector for its own length only: an orchestrator's process
gets its settings back, whatever the outcome."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from pipelines.gc_tuning import YOUNG_THRESHOLD
from pipelines.result import RunFailed
from simulators.mega import SimulatorServer
from sources.core.sweep.keyset_sweep import KeysetSweep
from tests.helpers import PROJECT, Warehouse, assert_matches_source


@pytest.fixture
def seen_while_sweeping(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(young threshold, frozen objects) each time a checkpoint starts reading pages."""
    seen: list[tuple[int, int]] = []
    checkpoint = KeysetSweep.batches

    def recording(self: KeysetSweep, *args: Any, **kwargs: Any) -> Iterator[Any]:
        seen.append((gc.get_threshold()[0], gc.get_freeze_count()))
        return checkpoint(self, *args, **kwargs)

    monkeypatch.setattr(KeysetSweep, "batches", recording)
    return seen


def test_collector_is_tuned_during_the_run_and_restored_after(
    warehouse: Warehouse, sim: SimulatorServer, seen_while_sweeping: list[tuple[int, int]]
) -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0

    warehouse.run()

    assert seen_while_sweeping
    assert all(young == YOUNG_THRESHOLD and frozen > 0 for young, frozen in seen_while_sweeping)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert_matches_source(warehouse, sim)


def test_a_failed_run_restores_the_collector_too(warehouse: Warehouse) -> None:
    before = gc.get_threshold()
    with pytest.raises(RunFailed, match="401"):
        warehouse.run(api_token="mega_wrong")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_process_that_freezes_objects_itself_keeps_its_freeze(
    warehouse: Warehouse, seen_while_sweeping: list[tuple[int, int]]
) -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        warehouse.run()
        # Not unfrozen (frozen objects that are freed leave the count); nothing frozen on top.
        assert gc.get_freeze_count() > frozen // 2
        assert seen_while_sweeping
        assert all(count <= frozen for _, count in seen_while_sweeping)
    finally:
        gc.unfreeze()


def test_a_process_without_automatic_collection_keeps_it_off(
    warehouse: Warehouse, seen_while_sweeping: list[tuple[int, int]]
) -> None:
    before = gc.get_threshold()
    gc.set_threshold(0)
    try:
        warehouse.run()
        assert seen_while_sweeping
        assert all(young == 0 for young, _ in seen_while_sweeping)
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)


@pytest.mark.parametrize(
    "module", ["pipelines.mega_leads", "pipelines.leads_v1", "pipelines.__main__"]
)
def test_importing_an_entrypoint_collects_nothing_and_leaves_the_collector_on(module: str) -> None:
    """The entrypoint's imports run without automatic collection (their objects live as long as
    the process); the importer's collector is on again afterwards."""
    code = (
        "import gc, sys\n"
        "passes = []\n"
        "gc.callbacks.append(lambda phase, info: passes.append(info) if phase == 'start' else 0)\n"
        f"import {module}\n"
        "print(len(passes), gc.isenabled())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    passes, enabled = done.stdout.split()
    # ~210 passes when the imports ran with the collector on; a few young ones remain, made by
    # the lines before the entrypoint turns it off.
    assert int(passes) < 10
    assert enabled == "True"
