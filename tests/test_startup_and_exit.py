"""What a scheduled run pays around its work: the entrypoint's imports and the command's end.

Importing an entrypoint loads only what every run needs (what a run may not need is imported
when it is: the progress bar's rich on a terminal, pyarrow's compute kernels with the first lead,
parquet footers after a failed load); read off `sys.modules` of a fresh interpreter, not timed.
The command ends without the interpreter's teardown, yet its exit handlers run and its output
arrives whole, with the same exit codes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulators.mega import SimulatorServer
from tests.helpers import PROJECT, Warehouse, assert_matches_source, cli_env

# httpx's CLI (click, rich, pygments), a terminal's progress bar (rich), arrow's compute kernels
# and parquet reader (pyarrow.compute, .parquet).
NOT_AT_START_UP = ("rich", "click", "pygments", "httpx._main", "pyarrow.compute", "pyarrow.parquet")


def modules_after_import(module: str) -> set[str]:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("module", ["pipelines.mega_leads", "pipelines.leads_v1"])
def test_importing_an_entrypoint_leaves_out_what_a_run_may_not_need(module: str) -> None:
    loaded = modules_after_import(module)
    assert module in loaded
    assert "httpx" in loaded and "dlt" in loaded  # what every run needs is there
    assert sorted(loaded & set(NOT_AT_START_UP)) == []


def test_httpx_keeps_its_command_line_client() -> None:
    """Left out at import, httpx's CLI is still there for whoever calls it."""
    code = (
        "import sources.core, sys, httpx\n"
        "assert 'click' not in sys.modules\n"
        "httpx.main(['--help'])\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert "Usage: httpx" in shown.stdout


# A command run as a console script does: the command, with an exit handler of its own beside
# dlt's (the handlers an interpreter runs at its exit must still run).
COMMAND = """
import atexit, sys
atexit.register(lambda: print("exit handler ran", file=sys.stderr))
from pipelines.mega_leads import main
main(sys.argv[1:])
print("not reached: main ends the process")
"""


def run_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", COMMAND, *args],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_ends_with_its_output_whole_and_exit_handlers_run(
    tmp_path: Path, sim: SimulatorServer
) -> None:
    done = run_command(cli_env(sim, tmp_path))

    assert done.returncode == 0, done.stderr
    # stdout is a pipe (block-buffered): the summary arrives only if it was flushed.
    assert done.stdout.startswith("success: 350 leads in 4 pages"), done.stdout
    assert "not reached" not in done.stdout
    assert done.stderr.splitlines()[-1] == "exit handler ran"
    assert_matches_source(Warehouse(tmp_path, sim), sim)


def test_a_failed_command_ends_the_same_way_with_its_exit_code(
    tmp_path: Path, sim: SimulatorServer
) -> None:
    done = run_command(cli_env(sim, tmp_path, token="mega_wrong"))

    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[-2].startswith("mega-leads: error: authentication failed (401")
    assert lines[-1] == "exit handler ran"
