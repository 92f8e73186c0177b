"""What every source promises when a run goes wrong, run against each source of ``sources.py``:
a SIGKILL at any page, an outage, a 401 mid-run, a malformed page and Ctrl-C each keep the pages
received (the rerun resumes after them and ends exact), Ctrl-C exits 130 with nothing pending,
every run leaves a manifest row, and bad settings exit 2 before any request or file."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.result import RunFailed
from simulators.core import faults
from simulators.mega import ManualClock
from tests.helpers import PROJECT

from .sources import SOURCES, CliRun, SourceUnderTest

PAGES = 6
FAULT_PAGE = 3  # the page a fault hits: two pages before it are received


@pytest.fixture(params=SOURCES, ids=[source.name for source in SOURCES])
def source(request: pytest.FixtureRequest) -> SourceUnderTest:
    return request.param


@pytest.fixture
def api(source: SourceUnderTest, clock: ManualClock) -> Iterator[Any]:
    with source.make_sim(clock, PAGES * source.page) as server:
        yield server


def assert_committed(source: SourceUnderTest, root: Path, api: Any, pages: int) -> None:
    """Exactly the first ``pages`` pages are loaded, each lead once."""
    loaded = source.loaded_ids(root)
    assert len(loaded) == len(set(loaded))
    assert set(loaded) == source.first_pages_ids(api, pages)


def rerun_resumes(source: SourceUnderTest, root: Path, api: Any, failed_page: int) -> None:
    """The rerun asks first for the page that failed (its cursor), then only the pages left,
    and ends exact."""
    asked = source.list_requests(api)
    # After a signal the page may never have been asked for (no request starts after it).
    failed_request = (
        asked[source.at_page(failed_page)] if len(asked) > source.at_page(failed_page) else None
    )
    api.faults.clear()
    api.clear_requests()
    result = source.run(root, api)
    sent = source.list_requests(api)
    if failed_request is not None:
        assert sent[0].get("cursor") == failed_request.get("cursor")
    assert len(sent) == PAGES - failed_page + 1
    assert result.outcome == "success"
    source.assert_exact(root, api)


def test_an_outage_commits_the_pages_received(
    source: SourceUnderTest, api: Any, tmp_path: Path
) -> None:
    api.faults.add(faults.status(500), times=None, after=source.at_page(FAULT_PAGE))

    with pytest.raises(RunFailed) as failed:
        source.run(tmp_path, api)

    message = str(failed.value)
    assert "\n" not in message and f"page {FAULT_PAGE}" in message and "500" in message
    assert failed.value.result.outcome == "failed"
    assert_committed(source, tmp_path, api, FAULT_PAGE - 1)
    rerun_resumes(source, tmp_path, api, FAULT_PAGE)


def test_a_401_mid_run_commits_the_pages_before_it(
    source: SourceUnderTest, api: Any, tmp_path: Path
) -> None:
    api.faults.add(faults.status(401), times=1, after=source.at_page(FAULT_PAGE))

    with pytest.raises(RunFailed) as failed:
        source.run(tmp_path, api)

    message = str(failed.value)
    assert "\n" not in message and "401" in message and f"page {FAULT_PAGE}" in message
    assert_committed(source, tmp_path, api, FAULT_PAGE - 1)
    rerun_resumes(source, tmp_path, api, FAULT_PAGE)


def test_a_malformed_page_commits_the_pages_before_it(
    source: SourceUnderTest, api: Any, tmp_path: Path
) -> None:
    fault = faults.missing_key(source.items_key)
    api.faults.add(fault, times=1, after=source.at_page(FAULT_PAGE))

    with pytest.raises(RunFailed) as failed:
        source.run(tmp_path, api)

    message = str(failed.value)
    assert "\n" not in message and f"page {FAULT_PAGE}" in message
    assert f"`{source.items_key}`" in message
    assert_committed(source, tmp_path, api, FAULT_PAGE - 1)
    rerun_resumes(source, tmp_path, api, FAULT_PAGE)


@pytest.mark.parametrize("kill_at", [2, 4, PAGES])
def test_a_run_killed_at_any_page_is_exact_after_the_rerun(
    source: SourceUnderTest, api: Any, tmp_path: Path, kill_at: int
) -> None:
    run = CliRun(source, api, tmp_path, "--checkpoint-pages", "1")
    api.faults.add(faults.callback(run.send(signal.SIGKILL)), after=source.at_page(kill_at))

    code, _ = run.finish()

    assert code == -signal.SIGKILL
    loaded = source.loaded_ids(tmp_path)
    assert len(loaded) == len(set(loaded))  # no duplicate, never ahead of whole pages
    assert set(loaded) == source.first_pages_ids(api, len(loaded) // source.page)
    assert len(loaded) <= (kill_at - 1) * source.page
    api.faults.clear()
    api.clear_requests()

    rerun = source.run_cli(api, tmp_path, "--checkpoint-pages", "1")

    assert rerun.returncode == 0, rerun.stderr
    source.assert_exact(tmp_path, api)
    # The committed pages are not listed again (a probe and the prefetched pages at most).
    committed = len(loaded) // source.page
    assert len(source.list_requests(api)) <= PAGES - committed + source.first_page_after
    assert [row[0] for row in source.runs(tmp_path)] == ["success"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_exits_130_with_the_pages_received_and_nothing_pending(
    source: SourceUnderTest, api: Any, tmp_path: Path, sig: int
) -> None:
    """The signal comes while page 4 is served (one page fetched ahead)."""
    run = CliRun(source, api, tmp_path, prefetch_pages="1")
    api.faults.add(faults.callback(run.send(sig, group=True)), after=source.at_page(4))

    code, stderr = run.finish()

    assert code == 130, stderr
    assert len(stderr) == 1, stderr
    assert stderr[0].startswith(f"{source.prog}: error: interrupted at page ")
    assert stderr[0].endswith("; run again to resume")
    committed = len(source.loaded_ids(tmp_path)) // source.page
    # With one page fetched ahead (a second waiting in the fetching thread's hand), page 2 or 3
    # is in hand and a list + detail sweep stops within it (no detail asked for after the
    # signal); page 4 may be answered before the sweep looks again.
    assert 1 <= committed <= 4
    assert f"committed up to page {committed};" in stderr[0]
    assert_committed(source, tmp_path, api, committed)
    assert source.runs(tmp_path) == [("interrupted", committed)]
    assert not source.has_pending(tmp_path)
    rerun_resumes(source, tmp_path, api, committed + 1)


def test_each_run_leaves_a_manifest_row(source: SourceUnderTest, api: Any, tmp_path: Path) -> None:
    source.run(tmp_path, api)
    source.run(tmp_path, api)
    api.faults.add(faults.status(401), times=1)
    with pytest.raises(RunFailed):
        source.run(tmp_path, api)

    assert [row[0] for row in source.runs(tmp_path)] == ["success", "success", "failed"]


def test_bad_settings_exit_2_before_any_request_or_file(
    source: SourceUnderTest, api: Any, tmp_path: Path
) -> None:
    variable, value = source.bad_setting
    env = source.cli_env(api, tmp_path) | {variable: value}
    started = time.monotonic()

    proc = subprocess.run(
        source.cli(), env=env, cwd=PROJECT, capture_output=True, text=True, timeout=60
    )

    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{source.prog}: error: ")
    assert variable in lines[0]
    assert api.requests == []
    assert [path for path in tmp_path.rglob("*")] == []
    assert time.monotonic() - started < 60
