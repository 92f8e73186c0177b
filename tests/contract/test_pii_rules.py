"""A pii rule applies to the rows a run loads: one added (or changed, or removed) for a column
the warehouse already holds is refused with exit 2 before any request, naming the column and
the command that reloads every row under the new rules; that command leaves no plaintext."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.mega import ManualClock
from sources.core.pii import RulesChanged
from tests.helpers import PROJECT

from .sources import PII_SOURCES, SourceUnderTest

KEY = "pepper-for-tests"


@pytest.fixture(params=PII_SOURCES, ids=[source.name for source in PII_SOURCES])
def source(request: pytest.FixtureRequest) -> SourceUnderTest:
    return request.param


@pytest.fixture
def api(source: SourceUnderTest, clock: ManualClock) -> Iterator[Any]:
    with source.make_sim(clock, 3 * source.page) as server:
        yield server


def run_cli(source: SourceUnderTest, api: Any, root: Path, *args: str) -> tuple[int, list[str]]:
    env = {**source.cli_env(api, root), source.setting("pii_key"): KEY}
    done = subprocess.run(
        source.cli(*args), env=env, cwd=PROJECT, capture_output=True, text=True, timeout=180
    )
    return done.returncode, done.stderr.splitlines()


def holding(root: Path, values: list[bytes]) -> list[str]:
    """Files under ``root`` (the DuckDB file, the pipelines folder) holding any of ``values``."""
    files = [path for path in root.rglob("*") if path.is_file()]
    return sorted(str(path) for path in files if any(v in path.read_bytes() for v in values))


def test_a_hash_rule_added_to_plaintext_rows_is_refused_with_the_command_that_applies_it(
    source: SourceUnderTest, api: Any, tmp_path: Path
) -> None:
    column, prog = source.pii_column, source.prog
    assert run_cli(source, api, tmp_path, "-q")[0] == 0  # plaintext, before any rule
    api.clear_requests()

    code, lines = run_cli(source, api, tmp_path, "-q", "--pii", f"{column}=hash")

    command = f"{prog} -q --pii {column}=hash --full-refresh"
    assert (code, lines) == (
        2,
        [
            f"{prog}: error: pii: the rules changed for columns already loaded: {column} "
            f"(plaintext in the rows loaded, hashed by the rules now); to reload every row "
            f"under them run: {command}"
        ],
    )
    assert api.requests == []
    emails = [value.encode() for value in source.pii_values(api) if value]
    assert emails and holding(tmp_path, emails) != []  # still there: nothing was changed

    words = shlex.split(lines[0].split(" run: ", 1)[1])
    assert words[0] == prog
    code, lines = run_cli(source, api, tmp_path, *words[1:])

    assert (code, lines) == (0, [])
    assert holding(tmp_path, emails) == []
    stored = source.query(tmp_path, f"SELECT {column} FROM {source.name}.leads")
    assert len(stored) == len(source.pii_values(api))
    assert all(value is None or re.fullmatch("[0-9a-f]{64}", value) for (value,) in stored)
    # The same rules again: an ordinary run.
    assert run_cli(source, api, tmp_path, "-q", "--pii", f"{column}=hash")[0] == 0


@pytest.mark.parametrize(
    ("before", "after", "said"),
    [
        ("hash", None, "hashed in the rows loaded, plaintext by the rules now"),
        ("hash", "drop", "hashed in the rows loaded, dropped by the rules now"),
        (None, "drop", "plaintext in the rows loaded, dropped by the rules now"),
    ],
)
def test_any_change_of_the_rules_for_loaded_rows_is_refused_before_any_request(
    source: SourceUnderTest,
    api: Any,
    tmp_path: Path,
    before: str | None,
    after: str | None,
    said: str,
) -> None:
    column = source.pii_column

    def rules(action: str | None) -> dict[str, Any]:
        return {"pii": f"{column}={action}", "pii_key": KEY} if action else {}

    source.run(tmp_path, api, **rules(before))
    api.clear_requests()
    runs = source.runs(tmp_path)

    with pytest.raises(RulesChanged) as refused:
        source.run(tmp_path, api, **rules(after))

    assert f"{column} ({said})" in str(refused.value)
    assert "--full-refresh" in str(refused.value)
    assert api.requests == []
    assert source.runs(tmp_path) == runs  # no manifest row: nothing ran
    result = source.run(tmp_path, api, full_refresh=True, **rules(after))
    assert result.outcome == "success"


def test_rules_may_start_on_a_dataset_with_no_row(
    source: SourceUnderTest, clock: ManualClock, tmp_path: Path
) -> None:
    with source.make_sim(clock, 0) as empty:
        source.run(tmp_path, empty)  # the rules recorded ({}), no row loaded
        result = source.run(tmp_path, empty, pii=f"{source.pii_column}=drop")
    assert result.outcome == "success"


def test_on_a_new_machine_the_rules_loaded_come_back_with_the_warehouse_state(
    source: SourceUnderTest, api: Any, tmp_path: Path
) -> None:
    source.run(tmp_path, api)  # plaintext
    shutil.rmtree(tmp_path / "pipelines")  # dlt's local state gone: only the warehouse's left
    api.clear_requests()

    with pytest.raises(RulesChanged, match=f"{source.pii_column} \\(plaintext in the rows"):
        source.run(tmp_path, api, pii=f"{source.pii_column}=drop")
    assert api.requests == []
