"""The simulator's command line as a user meets it: the help names the command they type, the
start-up lines point ``mega-leads`` at it (and work), bad numbers and a taken port are one line.

Each test runs the real console entry as a subprocess on a free loopback port and stops it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN
from tests.simulator import cli
from tests.simulator.cli import exports

SIMULATOR = str(Path(sys.executable).with_name("mega-simulator"))


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@contextmanager
def serving(*args: str, env: dict[str, str] | None = None) -> Iterator[list[str]]:
    """``mega-simulator serve --port 0 …``: yields its start-up lines; SIGINT stops it after."""
    with cli.serving([SIMULATOR], "CUSTOMER_ID", *args, env=env) as lines:
        yield lines


@pytest.mark.parametrize(
    ("command", "typed"),
    [
        ([SIMULATOR], "mega-simulator"),
        ([sys.executable, "-m", "simulators.mega"], "python -m simulators.mega"),
    ],
)
def test_help_names_the_command_the_user_typed(command: list[str], typed: str) -> None:
    shown = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=30)

    assert shown.returncode == 0
    assert shown.stdout.startswith(f"usage: {typed} ")
    assert f"example: {typed} serve --port" in shown.stdout


def test_start_up_lines_point_mega_leads_at_the_simulator(tmp_path: Path) -> None:
    with serving("--leads", "150") as lines:
        env = exports(lines)
        assert env["SOURCES__MEGA__API_TOKEN"] == DEFAULT_TOKEN
        assert env["SOURCES__MEGA__CUSTOMER_ID"] == DEFAULT_CUSTOMER_ID
        assert env["SOURCES__MEGA__BASE_URL"] in lines[0]
        # Pasted as printed, they are all mega-leads needs to reach the simulator.
        run_env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__MEGA__")}
        run_env |= env | {
            "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "leads.duckdb"),
            "DLT_DATA_DIR": str(tmp_path),
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }
        loaded = subprocess.run(
            [sys.executable, "-m", "pipelines.mega_leads"],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert loaded.returncode == 0, loaded.stderr
    with duckdb.connect(str(tmp_path / "leads.duckdb"), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM mega.leads").fetchall() == [(150,)]


def test_a_token_from_the_environment_is_referenced_not_echoed() -> None:
    secret = "mega_" + "5" * 64
    with serving("--leads", "1", env={**os.environ, "MEGA_SIM_TOKEN": secret}) as lines:
        assert exports(lines)["SOURCES__MEGA__API_TOKEN"] == '"$MEGA_SIM_TOKEN"'
        assert secret not in "\n".join(lines)


def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = subprocess.run(
            [SIMULATOR, "serve", "--port", str(port), "--leads", "1"],
            capture_output=True,
            text=True,
            timeout=30,
        )

    assert refused.returncode == 2
    line = one_line(refused.stderr)
    assert line.startswith("mega-simulator: error: ")
    assert f"port {port}" in line and "in use" in line and "--port" in line


@pytest.mark.parametrize(
    ("option", "value"),
    [("--leads", "-5"), ("--port", "99999"), ("--rate-limit", "0"), ("--latency-ms", "-1")],
)
def test_impossible_numbers_are_refused(option: str, value: str) -> None:
    # --port 0 first: were the value accepted, the simulator would serve on a free port.
    command = [SIMULATOR, "serve", "--port", "0", option, value]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=15)

    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    error = refused.stderr.strip().splitlines()[-1]
    assert error.startswith("mega-simulator serve: error: ")
    assert option in error and value in error


@pytest.mark.parametrize("module", ["simulators.mega", "simulators.leads_v1", "simulators.apollo"])
def test_every_simulator_takes_latency_in_seconds(module: str) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", module, "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert shown.returncode == 0
    assert "--latency LATENCY" in shown.stdout
    assert "seconds added per API request" in " ".join(shown.stdout.split())
    assert "--latency-ms" not in shown.stdout
