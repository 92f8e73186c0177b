"""The command's start-up on each kind of destination: dlt parses connection strings with
SQLAlchemy when it is installed, which costs a command ~0.17 s; a command whose destination
hands no URL to SQLAlchemy parses them with dlt's own port instead, and loads the same rows.
Read off `sys.modules` at the command's exit, not timed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import PROJECT
from tests.warehouses.target import Target, assert_exact

# The command as a console script runs it, reporting at its exit whether SQLAlchemy was loaded.
COMMAND = """
import atexit, sys
atexit.register(lambda: print("sqlalchemy loaded:", "sqlalchemy" in sys.modules, file=sys.stderr))
from pipelines.mega_leads import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize(
    ("target", "loads_sqlalchemy"),
    [("duckdb", False), ("postgres", False), ("sqlite", True)],
    indirect=["target"],
)
def test_the_command_loads_sqlalchemy_only_where_its_destination_needs_it(
    target: Target, loads_sqlalchemy: bool
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", COMMAND, "-q", *target.args],
        env=target.cli_env(),
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == f"sqlalchemy loaded: {loads_sqlalchemy}"
    assert_exact(target)


@pytest.mark.parametrize("target", ["duckdb"], indirect=True)
def test_run_from_python_leaves_dlt_parsing_urls_with_sqlalchemy(target: Target) -> None:
    """Only the command swaps dlt's URL parser: `run()` leaves the interpreter as it was."""
    target.run()

    from dlt.common.libs.sql_alchemy_compat import make_url

    assert make_url.__module__.split(".")[0] == "sqlalchemy"
    assert_exact(target)
