"""The Leads v1 simulator's command line: the start-up lines are the exports the connector
reads, and pasted as printed they reach the simulator; non-loopback hosts are refused.

Runs ``python -m simulators.leads_v1`` as a subprocess on a free loopback port (the console
script ``leads-v1-simulator`` is the same entry point once the package is reinstalled).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from simulators.leads_v1 import DEFAULT_TOKEN, LeadsV1Server
from simulators.leads_v1.__main__ import main as cli_main
from tests.simulator import cli
from tests.simulator.cli import exports

COMMAND = [sys.executable, "-m", "simulators.leads_v1"]


@contextmanager
def serving(*args: str, env: dict[str, str] | None = None) -> Iterator[list[str]]:
    """``python -m simulators.leads_v1 serve --port 0 …``, up to its token export."""
    with cli.serving(COMMAND, "API_TOKEN", *args, env=env) as lines:
        yield lines


def test_start_up_lines_are_the_connectors_exports() -> None:
    with serving("--leads", "30", "--seed", "4", "--latency", "0.01") as lines:
        assert "  export SOURCES__LEADS_V1__API_TOKEN=" + DEFAULT_TOKEN in lines
        env = exports(lines)
        assert env["SOURCES__LEADS_V1__BASE_URL"].startswith("http://127.0.0.1:")
        assert env["SOURCES__LEADS_V1__BASE_URL"] in lines[0]
        response = httpx.get(
            env["SOURCES__LEADS_V1__BASE_URL"] + "/api/v1/leads",
            headers={"Authorization": f"Bearer {env['SOURCES__LEADS_V1__API_TOKEN']}"},
        )
        assert response.status_code == 200
        assert len(response.json()["data"]) == 30 and response.json()["next_cursor"] is None


def test_a_token_from_the_environment_is_referenced_not_echoed() -> None:
    secret = "lv1_" + "5" * 64
    with serving("--leads", "1", env={**os.environ, "LEADS_V1_SIM_TOKEN": secret}) as lines:
        env = exports(lines)
        assert env["SOURCES__LEADS_V1__API_TOKEN"] == '"$LEADS_V1_SIM_TOKEN"'
        assert secret not in "\n".join(lines)
        url = env["SOURCES__LEADS_V1__BASE_URL"] + "/api/v1/leads"
        assert httpx.get(url, headers={"Authorization": f"Bearer {secret}"}).status_code == 200


def test_help_and_bad_numbers() -> None:
    shown = subprocess.run([*COMMAND, "--help"], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0
    assert shown.stdout.startswith("usage: python -m simulators.leads_v1 ")
    refused = subprocess.run(
        [*COMMAND, "serve", "--port", "0", "--latency", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2 and "--latency" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_non_loopback_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["serve", "--host", "0.0.0.0", "--leads", "1"]) == 2
    assert "non-loopback" in capsys.readouterr().err
    with pytest.raises(ValueError):
        LeadsV1Server(host="10.1.2.3")
