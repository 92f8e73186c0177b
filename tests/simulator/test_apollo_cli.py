"""The Apollo simulator's command line: the start-up lines are the exports the apollo
destination reads, and pasted as printed they create a lead; a token must be one the
simulator signed; non-loopback hosts are refused.

Runs ``python -m simulators.apollo`` as a subprocess on a free loopback port (the console
script ``apollo-simulator`` is the same entry point once the package is reinstalled).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from simulators.apollo import (
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_PIPELINE_ID,
    DEFAULT_TOKEN,
    OTHER_ORGANIZATION_ID,
    OTHER_PIPELINE_ID,
    ApolloServer,
    issue_token,
)
from simulators.apollo.__main__ import main as cli_main
from tests.simulator import cli
from tests.simulator.apollo_api import START
from tests.simulator.cli import exports

COMMAND = [sys.executable, "-m", "simulators.apollo"]
PREFIX = "DESTINATION__APOLLO__"


@contextmanager
def serving(*args: str, env: dict[str, str] | None = None) -> Iterator[list[str]]:
    """``python -m simulators.apollo serve --port 0 …``, up to its last export."""
    with cli.serving(COMMAND, "PIPELINE_ID", *args, env=env) as lines:
        yield lines


def _create(env: dict[str, str], token: str | None = None) -> httpx.Response:
    return httpx.post(
        env[PREFIX + "BASE_URL"] + "/leads",
        json={"contact_name": "Ana Souza", "pipeline_id": env[PREFIX + "PIPELINE_ID"]},
        headers={
            "Authorization": f"Bearer {token or env[PREFIX + 'API_TOKEN']}",
            "X-Organization-Id": env[PREFIX + "ORGANIZATION_ID"],
        },
    )


def test_start_up_lines_are_the_destinations_exports() -> None:
    with serving("--latency", "0.01") as lines:
        assert f"  export {PREFIX}API_TOKEN={DEFAULT_TOKEN}" in lines
        env = exports(lines)
        assert env[PREFIX + "BASE_URL"].startswith("http://127.0.0.1:")
        assert env[PREFIX + "BASE_URL"].endswith("/v1") and env[PREFIX + "BASE_URL"] in lines[0]
        assert env[PREFIX + "ORGANIZATION_ID"] == DEFAULT_ORGANIZATION_ID
        assert env[PREFIX + "PIPELINE_ID"] == DEFAULT_PIPELINE_ID
        assert "(0 leads," in lines[0]
        created = _create(env)
        assert created.status_code == 201 and created.json()["stage"] == "novo"


def test_existing_leads_and_a_rate_limit() -> None:
    with serving("--leads", "25", "--seed", "3", "--rate-limit", "5") as lines:
        assert "(25 leads," in lines[0]
        env = exports(lines)
        origin = env[PREFIX + "BASE_URL"].removesuffix("/v1")
        snapshot = httpx.get(origin + "/_sim/snapshot").json()
        assert len(snapshot) == 25 and len({lead["email"] for lead in snapshot}) == 25
        assert _create(env).headers["RateLimit-Limit"] == "5"


def test_a_token_from_the_environment_is_referenced_not_echoed() -> None:
    secret = issue_token([OTHER_ORGANIZATION_ID], START.replace(year=2099), sub="ci")
    with serving(env={**os.environ, "APOLLO_SIM_TOKEN": secret}) as lines:
        env = exports(lines)
        assert env[PREFIX + "API_TOKEN"] == '"$APOLLO_SIM_TOKEN"'
        assert secret not in "\n".join(lines)
        # The token's organization, and a pipeline of it, are the ones printed.
        assert env[PREFIX + "ORGANIZATION_ID"] == OTHER_ORGANIZATION_ID
        assert env[PREFIX + "PIPELINE_ID"] == OTHER_PIPELINE_ID
        assert _create(env, token=secret).json()["stage"] == "entrada"


def test_a_token_the_simulator_did_not_sign_is_refused() -> None:
    env = {**os.environ, "APOLLO_SIM_TOKEN": "not-a-jwt-but-secret"}
    refused = subprocess.run(
        [*COMMAND, "serve", "--port", "0"], capture_output=True, text=True, timeout=30, env=env
    )
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "not one the simulator signed" in lines[0]
    assert "not-a-jwt-but-secret" not in refused.stderr and "Traceback" not in refused.stderr


def test_help_and_bad_numbers() -> None:
    shown = subprocess.run([*COMMAND, "--help"], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0
    assert shown.stdout.startswith("usage: python -m simulators.apollo ")
    refused = subprocess.run(
        [*COMMAND, "serve", "--port", "0", "--latency", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2 and "--latency" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_non_loopback_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["serve", "--host", "0.0.0.0"]) == 2
    assert "non-loopback" in capsys.readouterr().err
    with pytest.raises(ValueError):
        ApolloServer(host="10.1.2.3")
