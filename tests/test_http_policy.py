"""The retry policy where it meets the user: a 429's Retry-After wins over its quota headers,
and a misconfigured network fails in seconds with the likely fix, while a server that has
answered once keeps the full retry budget.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.result import RunFailed
from simulators.core import faults
from simulators.core.faults import Fault
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, ManualClock
from sources.core.errors import TransportError
from sources.mega.client import MegaClient, RetryPolicy
from tests.helpers import (
    PROBE,
    Warehouse,
    assert_exact,
    cli,
    cli_env,
    list_requests,
    make_sim,
    one_line_error,
)

# Defaults (settings.py) a user runs with, so the time to fail is what they would wait.
DEFAULT_RETRY_ENV = ("BACKOFF_BASE", "BACKOFF_MAX", "RETRY_AFTER_MAX", "MAX_RETRIES")


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it), not listening."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


# ----- 429: Retry-After wins ----------------------------------------------------------------


def test_429_waits_its_retry_after_not_its_rate_limit_reset(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each 429 says Retry-After: 1 with RateLimit-Remaining: 0 and a reset ~60 s away (the
    # window); RETRY_AFTER_MAX=10 bounds the reset, should it be obeyed instead, to 2 × 10 s.
    monkeypatch.setenv("SOURCES__MEGA__RETRY_AFTER_MAX", "10")
    with make_sim(clock, 250, rate_window_s=60) as sim:
        warehouse = Warehouse(tmp_path, sim)
        sim.faults.add(faults.rate_limited(1), times=2, after=PROBE + 1)
        started = time.monotonic()

        result = warehouse.run(checkpoint_pages=1)

        elapsed = time.monotonic() - started
        assert_exact(warehouse, sim)
        assert [r.status for r in sim.requests].count(429) == 2
        assert result.retries == 2
        assert result.rate_limit_wait_s <= 2.5, result.rate_limit_wait_s
        assert elapsed < 18, f"two 429s with Retry-After: 1 held the run {elapsed:.1f} s"


def test_429_without_retry_after_waits_for_the_rate_limit_reset(
    tmp_path: Path, clock: ManualClock
) -> None:
    # Without Retry-After the answer's RateLimit-Reset (here the 2 s window) is the wait.
    with make_sim(clock, 150, rate_window_s=2) as sim:
        warehouse = Warehouse(tmp_path, sim)
        sim.faults.add(Fault("rate_limited", status=429), times=1, after=PROBE + 1)

        result = warehouse.run(checkpoint_pages=1)

        assert_exact(warehouse, sim)
        assert result.retries == 1
        assert 0.5 <= result.rate_limit_wait_s <= 2.5


# ----- a network that can never work fails fast -------------------------------------------------


def test_refused_connection_fails_in_seconds_naming_host_and_fix(
    tmp_path: Path, clock: ManualClock, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in DEFAULT_RETRY_ENV:
        monkeypatch.delenv(f"SOURCES__MEGA__{name}")
    # Retrying would take these 60 s (the defaults' ~80 s, bounded); a refused connection is
    # reported at once, which on a loaded machine is still far below the 30 s asserted.
    monkeypatch.setenv("SOURCES__MEGA__MAX_RETRY_TIME", "60")
    with make_sim(clock, 0) as sim:
        env = cli_env(sim, tmp_path) | {
            "SOURCES__MEGA__BASE_URL": f"http://127.0.0.1:{closed_port}"
        }
    started = time.monotonic()

    failed = subprocess.run(cli(), env=env, capture_output=True, text=True, timeout=120)

    elapsed = time.monotonic() - started
    assert failed.returncode == 1
    errors = [line for line in failed.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("mega-leads: error: "), failed.stderr
    assert f"127.0.0.1:{closed_port}" in errors[0] and "connection refused" in errors[0]
    assert "is the server running" in errors[0] and "SOURCES__MEGA__BASE_URL" in errors[0]
    assert "retry" not in failed.stderr and "gave up" not in errors[0]
    assert elapsed < 30, f"took {elapsed:.1f} s to report a refused connection"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://mega-leads-test.invalid", ["cannot resolve host mega-leads-test.invalid"]),
        ("https://127.0.0.1:{port}", ["127.0.0.1:{port}", "plain http", "use http://"]),
    ],
    ids=["unresolvable_host", "tls_to_plain_http_port"],
)
def test_misconfigured_base_url_fails_on_the_first_request(
    url: str, words: list[str], tmp_path: Path, clock: ManualClock
) -> None:
    with make_sim(clock, 150) as sim:
        warehouse = Warehouse(tmp_path, sim)
        started = time.monotonic()

        with pytest.raises(RunFailed) as failed:
            warehouse.run(base_url=url.format(port=sim.port))

        message = one_line_error(failed.value)
        for word in words:
            assert word.format(port=sim.port) in message, message
        assert "SOURCES__MEGA__BASE_URL" in message and "gave up" not in message
        assert failed.value.result.retries == 0
        assert time.monotonic() - started < 5
        assert list_requests(sim) == []


def test_parallel_backfill_against_a_refused_port_fails_fast_too(
    tmp_path: Path, clock: ManualClock, closed_port: int
) -> None:
    with make_sim(clock, 0) as sim:
        warehouse = Warehouse(tmp_path, sim)
    started = time.monotonic()

    with pytest.raises(RunFailed) as failed:
        warehouse.run(base_url=f"http://127.0.0.1:{closed_port}", workers=3)

    assert "connection refused; is the server running" in one_line_error(failed.value)
    assert failed.value.result.retries == 0
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("port", ["99999", "0", "http"])
def test_an_impossible_port_is_a_configuration_error(
    port: str, tmp_path: Path, clock: ManualClock
) -> None:
    with make_sim(clock, 0) as sim:
        env = cli_env(sim, tmp_path) | {"SOURCES__MEGA__BASE_URL": f"http://127.0.0.1:{port}"}
    refused = subprocess.run(cli(), env=env, capture_output=True, text=True, timeout=60)

    assert refused.returncode == 2
    error = refused.stderr.strip().splitlines()[-1]
    assert "SOURCES__MEGA__BASE_URL" in error and port in error
    assert "Traceback" not in refused.stderr


# ----- once the server has answered, failures are transient: full budget ---------------------


def test_a_refused_connection_after_the_first_answer_keeps_the_retry_budget(
    clock: ManualClock,
) -> None:
    retry = RetryPolicy(max_retries=3, backoff_base_s=0.01, backoff_max_s=0.02)
    params = {"limit": "1"}
    with make_sim(clock, 5) as sim:
        client = MegaClient(sim.url, DEFAULT_TOKEN, DEFAULT_CUSTOMER_ID, retry=retry)
        child = MegaClient.from_child_spec(client.child_spec())  # made before any answer
        client.list_leads(params, "page 1")
        # The fetch process's client is made from the spec after the parent's first page.
        late_child = MegaClient.from_child_spec(client.child_spec())
    # The simulator is gone: its port now refuses connections.
    for answered in (client, late_child):
        with pytest.raises(TransportError) as gone:
            answered.list_leads(params, "page 2")
        assert "(gave up after 4 attempts)" in one_line_error(gone.value)
        assert answered.stats.retries == 3
    with pytest.raises(TransportError) as never:
        child.list_leads(params, "page 1")
    assert "is the server running" in one_line_error(never.value)
    assert child.stats.retries == 0
    for each in (client, child, late_child):
        each.close()
